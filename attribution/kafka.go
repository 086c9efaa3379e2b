package attribution

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topics refedge produces to and consumes from (DESIGN.md "Kafka topics").
const (
	TopicClicks       = "referral.clicks"
	TopicAttributions = "referral.attributions"
	TopicCommissions  = "referral.commissions"
	TopicDeadLetter   = "refedge.deadletter"

	TopicPartners = "marketplace.partners"
	TopicUsers    = "marketplace.users"
	TopicKworks   = "marketplace.kworks"
	TopicOrders   = "marketplace.orders"
)

// AllTopics lists every topic refedge uses, for topic creation in dev and tests.
var AllTopics = []string{TopicClicks, TopicAttributions, TopicCommissions, TopicDeadLetter,
	TopicPartners, TopicUsers, TopicKworks, TopicOrders}

// NewWriter returns a kafka-go writer for topic with refedge's explicit settings:
// acks from all in-sync replicas, hash partitioning by key, a short batch timeout (the
// pipeline has already batched), synchronous writes so failures reach the caller.
func NewWriter(brokers []string, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    10000,
		BatchBytes:   1 << 20,
		BatchTimeout: 5 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		MaxAttempts:  3,
		Compression:  kafka.Lz4,
	}
}

// KafkaClicks produces click batches to referral.clicks, keyed by partner.
type KafkaClicks struct {
	W *kafka.Writer

	scratch sync.Pool // *kafkaScratch, reused after successful writes
}

// kafkaScratch holds one batch's messages, their keys and values in a single buffer.
type kafkaScratch struct {
	msgs []kafka.Message
	buf  []byte
	ends []int // per click: end of its key, end of its value in buf
}

// Name implements Sink.
func (s *KafkaClicks) Name() string { return "kafka" }

// Write implements Sink. Keys and values of the whole batch are encoded into one
// buffer, kept for the next batch once the writer has acknowledged this one (a failed
// or cancelled write may still be in flight inside kafka-go, so its buffer is dropped).
func (s *KafkaClicks) Write(ctx context.Context, clicks []*Click) error {
	sc, _ := s.scratch.Get().(*kafkaScratch)
	if sc == nil {
		sc = &kafkaScratch{}
	}
	buf, ends := sc.buf[:0], sc.ends[:0]
	for _, c := range clicks {
		buf = append(buf, c.Partner()...)
		ends = append(ends, len(buf))
		buf = c.AppendEnvelope(buf)
		ends = append(ends, len(buf))
	}
	// Slices into buf are taken once it has stopped growing.
	msgs := slices.Grow(sc.msgs[:0], len(clicks))[:len(clicks)]
	start := 0
	for i, c := range clicks {
		k, v := ends[2*i], ends[2*i+1]
		msgs[i] = kafka.Message{Key: buf[start:k:k], Value: buf[k:v:v], Time: c.Time}
		start = v
	}
	if err := s.W.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce %d clicks to %s: %w", len(clicks), s.W.Topic, err)
	}
	clear(msgs) // drop references to the clicks' times and the buffer
	sc.msgs, sc.buf, sc.ends = msgs[:0], buf, ends
	s.scratch.Put(sc)
	return nil
}
