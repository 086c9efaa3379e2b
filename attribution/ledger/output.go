package ledger

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/segmentio/kafka-go"
)

// Dead-letter headers: the original message is kept byte for byte (value, key and
// headers); these say where it came from and why it was refused.
const (
	HeaderDLQReason    = "refedge-dlq-reason"
	HeaderDLQTopic     = "refedge-dlq-topic"
	HeaderDLQPartition = "refedge-dlq-partition"
	HeaderDLQOffset    = "refedge-dlq-offset"
	HeaderDLQGroup     = "refedge-dlq-group"
	HeaderDLQTime      = "refedge-dlq-time"
)

// ledgerWriters produces the ledger's output: attribution events keyed by user,
// commission events keyed by partner, and refused input to the dead-letter topic.
type ledgerWriters struct {
	// mu guards the two output writers' replacement by settle.
	mu                              sync.RWMutex
	attributions, commissions, dead *kafka.Writer
	newWriter                       func(topic string) *kafka.Writer
	group                           string
	brokers                         []string
	client                          *kafka.Client
	cache                           outputEnds
}

func newLedgerWriters(brokers []string, t event.LedgerTopics, group string) *ledgerWriters {
	w := func(topic string) *kafka.Writer {
		wr := sink.NewWriter(brokers, topic)
		// Each call is one batch already: do not wait for more.
		wr.BatchTimeout = time.Millisecond
		return wr
	}
	return &ledgerWriters{attributions: w(t.Attributions), commissions: w(t.Commissions), dead: w(t.DeadLetter), newWriter: w, group: group,
		brokers: brokers, client: &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}}
}

func (w *ledgerWriters) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.attributions.Close(), w.commissions.Close(), w.dead.Close())
}

// settle waits until no write of a failed produce can still land. A WriteMessages that
// timed out leaves its batch with the writer, which may still deliver it; the next
// attempt reads the output partitions to leave out what its failed try already
// produced, and must not read before that batch has landed or failed for good. So the
// writers are replaced (other producers go on with the new ones at once) and the old
// ones closed: kafka-go's Close waits for every write in flight.
func (w *ledgerWriters) settle() error {
	w.mu.Lock()
	oldA, oldC := w.attributions, w.commissions
	w.attributions, w.commissions = w.newWriter(oldA.Topic), w.newWriter(oldC.Topic)
	w.mu.Unlock()
	return errors.Join(oldA.Close(), oldC.Close())
}

// message encodes an outbox entry as its Kafka message. The envelope id is derived from
// the entry's id, so an event produced twice (a crash between the broker's ack and the
// outbox delete) carries the same id and key both times.
func (e *outEntry) message() (kafka.Message, bool, error) {
	at := msTime(e.ev.OccurredAtMS)
	id := e.eventID()
	switch e.ev.Type {
	case event.TypeAttributed, event.TypeActivated, event.TypeDetached, event.TypeExpired:
		b, err := event.EncodeLedgerEvent(id, e.ev.Type, at, attributionPayload(&e.ev))
		return kafka.Message{Key: []byte(e.ev.UserID), Value: b}, false, err
	case event.TypeCommissionAccrued, event.TypeCommissionReversed:
		b, err := event.EncodeLedgerEvent(id, e.ev.Type, at, commissionPayload(&e.ev))
		return kafka.Message{Key: []byte(e.ev.PartnerID), Value: b}, true, err
	}
	return kafka.Message{}, false, fmt.Errorf("ledger outbox holds an event of unknown type %q", e.ev.Type)
}

// eventID returns the envelope id of the entry's event.
func (e *outEntry) eventID() string { return event.LedgerEventID(e.ev.Type, e.id) }

// produce writes entries and returns once every broker acknowledged them (RequireAll).
func (w *ledgerWriters) produce(ctx context.Context, entries []outEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var attr, comm []kafka.Message
	for i := range entries {
		m, isComm, err := entries[i].message()
		if err != nil {
			return err
		}
		if isComm {
			comm = append(comm, m)
		} else {
			attr = append(attr, m)
		}
	}
	w.mu.RLock()
	attrW, commW := w.attributions, w.commissions
	w.mu.RUnlock()
	var wg sync.WaitGroup
	var errA, errC error
	write := func(wr *kafka.Writer, msgs []kafka.Message, dst *error) {
		defer wg.Done()
		if len(msgs) == 0 {
			return
		}
		if err := wr.WriteMessages(ctx, msgs...); err != nil {
			*dst = fmt.Errorf("cannot produce %d events to %s: %w", len(msgs), wr.Topic, err)
		}
	}
	wg.Add(2)
	go write(attrW, attr, &errA)
	go write(commW, comm, &errC)
	wg.Wait()
	if err := errors.Join(errA, errC); err != nil {
		if serr := w.settle(); serr != nil {
			err = errors.Join(err, fmt.Errorf("while waiting for the failed writes: %w", serr))
		}
		return err
	}
	for i := range entries {
		ledgerOutputs.WithLabelValues(entries[i].ev.Type).Inc()
	}
	return nil
}

// deadLetter produces refused input, original bytes and all, with the reason in headers.
func (w *ledgerWriters) deadLetter(ctx context.Context, dead []deadLetter) error {
	if len(dead) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(dead))
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i, d := range dead {
		reason := d.reason
		if len(reason) > 1024 {
			reason = reason[:1024]
		}
		h := append([]kafka.Header(nil), d.msg.Headers...)
		h = append(h,
			kafka.Header{Key: HeaderDLQReason, Value: []byte(reason)},
			kafka.Header{Key: HeaderDLQTopic, Value: []byte(d.msg.Topic)},
			kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(d.msg.Partition))},
			kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(d.msg.Offset, 10))},
			kafka.Header{Key: HeaderDLQGroup, Value: []byte(w.group)},
			kafka.Header{Key: HeaderDLQTime, Value: []byte(now)},
		)
		msgs[i] = kafka.Message{Key: d.msg.Key, Value: d.msg.Value, Headers: h}
		ledgerDeadLetters.WithLabelValues(d.msg.Topic, dlqReasonCode(d.reason)).Inc()
	}
	if err := w.dead.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce %d events to %s: %w", len(msgs), w.dead.Topic, err)
	}
	return nil
}

// dlqReasonCode reduces a reason to a metric label.
func dlqReasonCode(reason string) string {
	for _, p := range []struct{ prefix, code string }{
		{"invalid JSON", "invalid_json"}, {"invalid envelope", "invalid_envelope"}, {"unknown event type", "unknown_type"},
		{"schema ", "schema"}, {"event type", "wrong_topic"}, {"ledger script", "script_error"},
	} {
		if len(reason) >= len(p.prefix) && reason[:len(p.prefix)] == p.prefix {
			return p.code
		}
	}
	return "other"
}
