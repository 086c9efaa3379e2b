package attribution

import (
	"context"
	"fmt"
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
}

// Name implements Sink.
func (s *KafkaClicks) Name() string { return "kafka" }

// Write implements Sink.
func (s *KafkaClicks) Write(ctx context.Context, clicks []*Click) error {
	msgs := make([]kafka.Message, len(clicks))
	for i, c := range clicks {
		msgs[i] = kafka.Message{Key: []byte(c.Partner()), Value: c.AppendEnvelope(nil), Time: c.Time}
	}
	if err := s.W.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("cannot produce %d clicks to %s: %w", len(clicks), s.W.Topic, err)
	}
	return nil
}
