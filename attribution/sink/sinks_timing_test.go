package sink_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/sink"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/deploy/bench/ingest"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/testenv"
)

// benchBatch is a batch of realistic clicks, the size the clicks pipeline flushes.
func benchBatch(b *testing.B, n int) []*event.Click {
	gen := ingest.NewGenerator(11)
	now := time.Now()
	out := make([]*event.Click, n)
	for i := range out {
		out[i] = event.AcquireClick()
		gen.Fill(out[i], now)
	}
	b.Cleanup(func() {
		for _, c := range out {
			event.ReleaseClick(c)
		}
	})
	return out
}

// BenchmarkClickEnvelope encodes a click as its Kafka envelope (also the spool record).
func BenchmarkClickEnvelope(b *testing.B) {
	clicks := benchBatch(b, 1024)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	var n int
	for i := 0; b.Loop(); i++ {
		buf = clicks[i%len(clicks)].AppendEnvelope(buf[:0])
		n += len(buf)
	}
	b.SetBytes(int64(n / b.N))
}

// BenchmarkClickHouseClicksWrite inserts batches of realistic clicks into ClickHouse
// (the full schema, with its materialized views) through the edge's sink. ns/click is
// wall time and includes the server's work; allocs/op are the edge's, per batch.
func BenchmarkClickHouseClicksWrite(b *testing.B) {
	ctx := b.Context()
	conn, db := testenv.ClickHouse(b)
	if err := sink.Migrate(ctx, conn, db, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	batch := benchBatch(b, 5000)
	sink := &sink.ClickHouseClicks{Conn: conn, DB: db}
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/click")
}

// BenchmarkKafkaClicksWrite produces batches of realistic clicks to an embedded broker
// (in this process) through the edge's writer and sink: envelope encoding, compression,
// the produce round trips.
func BenchmarkKafkaClicksWrite(b *testing.B) {
	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicClicks}})
	if err != nil {
		b.Fatal(err)
	}
	defer broker.Close()
	w := sink.NewWriter(broker.Addrs(), event.TopicClicks)
	defer w.Close()
	batch := benchBatch(b, 5000)
	sink := &sink.KafkaClicks{W: w}
	b.ReportAllocs()
	for b.Loop() {
		if err := sink.Write(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/click")
}
