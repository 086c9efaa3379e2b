package sink

import (
	"context"
	"fmt"
	"time"

	"slices"

	"github.com/refedge/refedge/attribution/event"
	"github.com/segmentio/kafka-go"
)

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

	spare event.Scratch[kafkaScratch] // reused after successful writes
}

// kafkaScratch holds one batch's messages, their keys and values in a single buffer.
type kafkaScratch struct {
	msgs []kafka.Message
	buf  []byte
	ends []int // per click: end of its key, end of its value in buf
}

// Name implements Sink.
func (s *KafkaClicks) Name() string { return "kafka" }

// kafkaWriteChunk is how many clicks one WriteMessages call takes: a pipeline batch is
// produced in chunks, so the encoded messages and kafka-go's copies of them are held
// for a chunk rather than the whole batch (tens of MB less at full load), while each
// chunk still fills a full produce request per partition.
const kafkaWriteChunk = 8192

// Write implements Sink. Each chunk's keys and values are encoded into one buffer,
// kept for the next chunk once the writer has acknowledged this one (a failed or
// cancelled write may still be in flight inside kafka-go, so its buffer is dropped).
func (s *KafkaClicks) Write(ctx context.Context, clicks []*event.Click) error {
	for lo := 0; lo < len(clicks); lo += kafkaWriteChunk {
		hi := min(lo+kafkaWriteChunk, len(clicks))
		if err := s.write(ctx, clicks[lo:hi]); err != nil {
			return fmt.Errorf("cannot produce %d clicks to %s: %w", len(clicks), s.W.Topic, err)
		}
	}
	return nil
}

func (s *KafkaClicks) write(ctx context.Context, clicks []*event.Click) error {
	sc := s.spare.Get()
	need := 0
	for _, c := range clicks {
		need += len(c.Partner()) + event.EnvelopeSize(c)
	}
	buf, ends := slices.Grow(sc.buf[:0], need), sc.ends[:0]
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
		return err
	}
	clear(msgs) // drop references to the clicks' times and the buffer
	sc.msgs, sc.buf, sc.ends = msgs[:0], buf, ends
	s.spare.Put(sc)
	return nil
}
