package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
)

// kafkaReady reports whether a broker answers and every topic refedge uses exists. A
// missing topic does not stop the edge (its events spool to disk until the topic
// exists), but the error names the topics and the command that creates them, so an
// operator reading /readyz or the log knows what to do.
func kafkaReady(ctx context.Context, brokers []string) error {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 2 * time.Second}
	// Topics nil asks for every topic: naming them would make a broker that creates
	// topics on demand create them with its defaults.
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("no broker answers: %w", err)
	}
	have := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error == nil {
			have[t.Name] = true
		}
	}
	var missing []string
	for _, t := range event.AllTopics {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("topics missing: %s; create them with `refedge kafka-topics -brokers %s` (events spool until they exist)",
		strings.Join(missing, ", "), strings.Join(brokers, ","))
}

// logKafkaTopics checks the topics once the brokers answer, within the first minute, and
// logs an error naming any that are missing.
func logKafkaTopics(ctx context.Context, brokers []string, log *slog.Logger) {
	deadline := time.Now().Add(time.Minute)
	for {
		err := kafkaReady(ctx, brokers)
		switch {
		case err == nil:
			return
		case strings.HasPrefix(err.Error(), "topics missing"):
			log.Error("Kafka is not ready for refedge", "err", err)
			return
		case time.Now().After(deadline):
			log.Warn("Kafka does not answer; events spool until it does", "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}
