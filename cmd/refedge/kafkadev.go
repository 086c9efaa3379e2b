package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/kafkax"
)

// kafkaDev runs the embedded broker as its own process, so development setups and fault
// tests can start and kill it independently of the edge. It reads only
// REFEDGE_KAFKA_EMBEDDED_ADDR and REFEDGE_KAFKA_DATA_DIR.
func kafkaDev(getenv func(string) string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	var dev devConfig
	_ = devVars.Load(&dev, getenv) // string variables cannot be malformed
	addr := getenv("REFEDGE_KAFKA_EMBEDDED_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9092"
	}
	b, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Addr: addr, Topics: event.AllTopics, DataDir: dev.KafkaDataDir})
	if err != nil {
		fmt.Fprintf(stderr, "refedge kafka-dev: REFEDGE_KAFKA_EMBEDDED_ADDR: %v\n", err)
		return 1
	}
	log.Info("embedded Kafka broker listening", "addrs", b.Addrs())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	b.Close()
	log.Info("embedded Kafka broker stopped")
	return 0
}
