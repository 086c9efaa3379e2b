package sink_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/deploy/bench/ingest"
	"github.com/refedge/refedge/internal/kafkax"
)

// TestKafkaClicksLikeWriter: the clicks KafkaClicks produces are the messages kafka-go's
// Writer (NewWriter's settings) produced from the same clicks: same partition, same
// order within it, same key, value and time. 24 partitions, as referral.clicks has in
// deploy/kafka/topics.json; more clicks than one chunk and than one request per
// partition.
func TestKafkaClicksLikeWriter(t *testing.T) {
	ctx := t.Context()
	const viaWriter = "writer.clicks"
	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicClicks, viaWriter}, Partitions: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	w := sink.NewWriter(broker.Addrs(), event.TopicClicks)
	defer w.Close()
	ref := sink.NewWriter(broker.Addrs(), viaWriter)
	defer ref.Close()

	now := time.Now().UTC().Truncate(time.Millisecond)
	clicks := hostileClicks(now)
	gen := ingest.NewGenerator(5)
	for i := range 30000 {
		c := event.AcquireClick()
		gen.Fill(c, now.Add(time.Duration(i)*time.Microsecond))
		clicks = append(clicks, c)
	}
	defer func() {
		for _, c := range clicks {
			event.ReleaseClick(c)
		}
	}()
	ks := &sink.KafkaClicks{W: w}
	for _, part := range [][]*event.Click{clicks[:700], clicks[700:]} { // the scratch buffers are reused
		if err := ks.Write(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	msgs := make([]kafka.Message, len(clicks))
	for i, c := range clicks {
		msgs[i] = kafka.Message{Key: []byte(c.Partner()), Value: c.AppendEnvelope(nil), Time: c.Time}
	}
	if err := ref.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	type rec struct {
		part      int
		key, val  string
		timestamp time.Time
	}
	read := func(topic string) []rec {
		ms, err := kafkax.ReadAll(ctx, broker.Addrs(), topic)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]rec, len(ms))
		for i, m := range ms {
			out[i] = rec{m.Partition, string(m.Key), string(m.Value), m.Time}
		}
		// ReadAll returns each partition in offset order; order partitions the same way.
		slices.SortStableFunc(out, func(a, b rec) int { return a.part - b.part })
		return out
	}
	got, want := read(event.TopicClicks), read(viaWriter)
	if len(got) != len(clicks) || len(want) != len(clicks) {
		t.Fatalf("%d messages from KafkaClicks, %d from the Writer, want %d each", len(got), len(want), len(clicks))
	}
	parts := map[int]bool{}
	for i := range got {
		if got[i].part != want[i].part || got[i].key != want[i].key || got[i].val != want[i].val || !got[i].timestamp.Equal(want[i].timestamp) {
			t.Fatalf("message %d:\n got %d %q %v %s\nwant %d %q %v %s", i, got[i].part, got[i].key, got[i].timestamp, got[i].val,
				want[i].part, want[i].key, want[i].timestamp, want[i].val)
		}
		parts[got[i].part] = true
	}
	if len(parts) != 24 {
		t.Fatalf("clicks landed on %d partitions, want all 24", len(parts))
	}
}

// TestKafkaClicksFailures: a broker that is gone, one that never listened and a topic
// that does not exist make Write fail (the pipeline then retries or spools); a write
// after a failed one still produces the right clicks.
func TestKafkaClicksFailures(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC()
	clicks := hostileClicks(now)
	defer func() {
		for _, c := range clicks {
			event.ReleaseClick(c)
		}
	}()
	within := func(name string, s *sink.KafkaClicks, limit time.Duration) error {
		t.Helper()
		start := time.Now()
		err := s.Write(ctx, clicks)
		if err == nil {
			t.Fatalf("%s: Write succeeded", name)
		}
		if d := time.Since(start); d > limit {
			t.Fatalf("%s: Write took %v to fail", name, d)
		}
		return err
	}

	// Nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	w := sink.NewWriter([]string{dead}, event.TopicClicks)
	defer w.Close()
	w.WriteTimeout = 2 * time.Second
	within("no broker", &sink.KafkaClicks{W: w}, 15*time.Second)

	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicClicks}})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	// A topic the broker does not have.
	wm := sink.NewWriter(broker.Addrs(), "no.such.topic")
	defer wm.Close()
	if err := within("missing topic", &sink.KafkaClicks{W: wm}, 15*time.Second); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v, want UnknownTopicOrPartition", err)
	}

	// A broker that stops after a successful write; then a new one on the same address.
	addr := broker.Addrs()[0]
	w2 := sink.NewWriter([]string{addr}, event.TopicClicks)
	defer w2.Close()
	w2.WriteTimeout = 2 * time.Second
	ks := &sink.KafkaClicks{W: w2}
	if err := ks.Write(ctx, clicks[:2]); err != nil {
		t.Fatal(err)
	}
	broker.Close()
	if err := within("broker gone", ks, 30*time.Second); !strings.Contains(err.Error(), "cannot produce") {
		t.Fatalf("broker gone: %v", err)
	}
	again, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Addr: addr, Topics: []string{event.TopicClicks}})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ks.Write(ctx, clicks)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Write to the restarted broker still fails: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond): // polling a reconnecting client, not synchronising
		}
	}
	ms, err := kafkax.ReadAll(context.WithoutCancel(ctx), again.Addrs(), event.TopicClicks)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, string(m.Value[strings.Index(string(m.Value), `"id":"`)+6:][:36]))
	}
	slices.Sort(ids)
	var wantIDs []string
	for _, c := range clicks {
		wantIDs = append(wantIDs, string(c.ID[:]))
	}
	slices.Sort(wantIDs)
	if !slices.Equal(ids, wantIDs) {
		t.Fatalf("the restarted broker has %q, want %q", ids, wantIDs)
	}
}
