package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/kafkax"
)

// A broker without refedge's topics: readiness names each missing topic and the command
// that creates it; once the topics exist, Kafka is ready.
func TestKafkaReadyNamesMissingTopics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bare, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicClicks}})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	err = kafkaReady(ctx, bare.Addrs())
	if err == nil {
		t.Fatal("a broker without refedge's topics reads as ready")
	}
	msg := err.Error()
	for _, topic := range event.AllTopics {
		if want := topic != event.TopicClicks; strings.Contains(msg, topic) != want {
			t.Errorf("topic %s named: %v, want %v: %s", topic, !want, want, msg)
		}
	}
	if !strings.Contains(msg, "refedge kafka-topics -brokers "+bare.Addrs()[0]) {
		t.Errorf("the error does not say how to create the topics: %s", msg)
	}
	// Asking must not have created them (the embedded broker creates topics on demand).
	if err2 := kafkaReady(ctx, bare.Addrs()); err2 == nil || err2.Error() != msg {
		t.Errorf("a second check: %v, want the same error", err2)
	}

	full, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: event.AllTopics})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	if err := kafkaReady(ctx, full.Addrs()); err != nil {
		t.Errorf("every topic exists: %v", err)
	}
	if err := kafkaReady(ctx, []string{"127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "no broker answers") {
		t.Errorf("no broker: %v", err)
	}
}
