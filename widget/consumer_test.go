package widget

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/kafkax"
)

func TestCatalogConsumer(t *testing.T) {
	f := newFixture(t)
	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicKworks}, Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	w := sink.NewWriter(broker.Addrs(), event.TopicKworks)
	defer w.Close()
	t0 := time.Now().UTC().Add(-time.Minute)
	msg := func(key string, e event.Envelope) kafka.Message {
		b, _ := json.Marshal(e)
		return kafka.Message{Key: []byte(key), Value: b}
	}
	msgs := []kafka.Message{
		msg("a", envelope(TypeKworkUpserted, t0, `{"kwork_id":"a","title":"A","category":"design","price":100,"currency":"USD","url":"https://market.example/kwork/a","status":"active"}`)),
		msg("b", envelope(TypeKworkUpserted, t0, `{"kwork_id":"b","title":"B","category":"design","price":100,"currency":"USD","url":"https://market.example/kwork/b","status":"active"}`)),
		{Key: []byte("x"), Value: []byte("not json")},
		msg("c", envelope(TypeKworkUpserted, t0, `{"kwork_id":"c","title":"C","category":"design","currency":"USD","url":"https://evil.example/c","status":"active"}`)),
		msg("a", envelope(TypeKworkModerated, t0.Add(time.Second), `{"kwork_id":"a","approved":false}`)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	group := "widget-test-" + newWidgetID()
	c := NewCatalogConsumer(broker.Addrs(), group, f.svc.Catalog(), quietLog())
	c.Start()
	waitFor(t, 20*time.Second, "the consumer to apply every event", func() bool {
		k, err := f.svc.Catalog().Get(ctx, "a")
		if err != nil || k.Status != StatusRejected {
			return false
		}
		cs, _ := f.svc.Catalog().Random(ctx, nil, "design", 5)
		return len(cs) == 1 && cs[0].ID == "b"
	})
	// Offsets are committed once applied, including the two that could never apply.
	client := &kafka.Client{Addr: kafka.TCP(broker.Addrs()...)}
	waitFor(t, 10*time.Second, "committed offsets to cover all 5 messages", func() bool {
		res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group,
			Topics: map[string][]int{event.TopicKworks: {0, 1}}})
		if err != nil {
			return false
		}
		var sum int64
		for _, p := range res.Topics[event.TopicKworks] {
			if p.CommittedOffset > 0 {
				sum += p.CommittedOffset
			}
		}
		return sum == int64(len(msgs))
	})
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Catalog().Get(ctx, "c"); err == nil {
		t.Fatal("an off-origin kwork was stored")
	}
	// Stop without Start is harmless.
	if err := NewCatalogConsumer(broker.Addrs(), group, f.svc.Catalog(), nil).Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
