package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/kafkax"
)

// CatalogConsumer feeds the catalog from marketplace.kworks. It commits an offset only
// after the event is applied (or found permanently invalid), so a crash redelivers and
// Apply's event-time ordering makes the redelivery harmless.
type CatalogConsumer struct {
	brokers []string
	group   string
	catalog *Catalog
	log     *slog.Logger
	// RetryMin and RetryMax bound the backoff after a transient failure; 0 means 100ms and 5s.
	RetryMin, RetryMax time.Duration

	once                   sync.Once
	c                      *kafkax.Consumer // set by Start
	stopFetch, abandonWork context.CancelFunc
}

// NewCatalogConsumer returns a consumer of marketplace.kworks in consumer group groupID
// (a new group starts from the oldest retained event). Call Start, then Stop.
func NewCatalogConsumer(brokers []string, groupID string, catalog *Catalog, log *slog.Logger) *CatalogConsumer {
	if log == nil {
		log = slog.Default()
	}
	return &CatalogConsumer{brokers: brokers, group: groupID, catalog: catalog, log: log}
}

// Start begins consuming in the background, one event at a time.
func (c *CatalogConsumer) Start() {
	c.once.Do(func() {
		c.c = kafkax.NewConsumer(kafkax.ConsumerConfig{
			Name: "kworks", Brokers: c.brokers, Group: c.group, Topics: []string{event.TopicKworks},
			MaxBatch: 1, RetryMin: c.RetryMin, RetryMax: c.RetryMax, Log: c.log,
		}, c.apply)
		fetchCtx, stopFetch := context.WithCancel(context.Background())
		workCtx, abandonWork := context.WithCancel(context.Background())
		c.stopFetch, c.abandonWork = stopFetch, abandonWork
		c.c.Start(fetchCtx, workCtx)
	})
}

// Stop stops fetching, lets the event being applied finish and be committed, or, if ctx
// ends first, abandons it (uncommitted, so it is redelivered), and closes the reader.
func (c *CatalogConsumer) Stop(ctx context.Context) error {
	c.once.Do(func() {}) // never started: Start does nothing from now on
	if c.c == nil {
		return nil
	}
	c.stopFetch()
	defer c.abandonWork()
	select {
	case <-c.c.Done():
	case <-ctx.Done():
		c.abandonWork()
		<-c.c.Done()
		c.c.Close()
		return ctx.Err()
	}
	return c.c.Close()
}

// apply applies the event in msgs (one message). A malformed or invalid event is
// skipped, so it is committed; any other failure is returned for the consumer to retry.
func (c *CatalogConsumer) apply(ctx context.Context, msgs []kafka.Message) (func(context.Context) error, error) {
	for _, m := range msgs {
		var env event.Envelope
		if err := json.Unmarshal(m.Value, &env); err != nil {
			catalogEvents.WithLabelValues("invalid").Inc()
			c.log.Warn("skipping malformed marketplace.kworks message", "partition", m.Partition, "offset", m.Offset, "err", err)
			continue
		}
		err := c.catalog.Apply(ctx, env)
		switch {
		case err == nil:
			catalogEvents.WithLabelValues("applied").Inc()
		case errors.Is(err, ErrInvalidEvent):
			catalogEvents.WithLabelValues("invalid").Inc()
			c.log.Warn("skipping invalid kwork event", "id", env.ID, "type", env.Type, "offset", m.Offset, "err", err)
		default:
			catalogEvents.WithLabelValues("error").Inc()
			return nil, fmt.Errorf("cannot apply kwork event %s (%s): %w", env.ID, env.Type, err)
		}
	}
	return nil, nil
}
