package widget

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/logx"
)

// CatalogConsumer feeds the catalog from marketplace.kworks. It commits an offset only
// after the event is applied (or found permanently invalid), so a crash redelivers and
// Apply's event-time ordering makes the redelivery harmless.
type CatalogConsumer struct {
	r       *kafka.Reader
	catalog *Catalog
	log     *slog.Logger
	// RetryMin and RetryMax bound the backoff after a transient failure; 0 means 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// warn throttles the warnings an outage repeats: one line per cause per interval.
	warn logx.Throttle

	once   sync.Once
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCatalogConsumer returns a consumer of marketplace.kworks in consumer group groupID
// (a new group starts from the oldest retained event). Call Start, then Stop.
func NewCatalogConsumer(brokers []string, groupID string, catalog *Catalog, log *slog.Logger) *CatalogConsumer {
	if log == nil {
		log = slog.Default()
	}
	return &CatalogConsumer{
		r: kafka.NewReader(kafka.ReaderConfig{
			Brokers:        brokers,
			GroupID:        groupID,
			Topic:          event.TopicKworks,
			MinBytes:       1,
			MaxBytes:       10 << 20,
			MaxWait:        500 * time.Millisecond,
			CommitInterval: 0, // synchronous: CommitMessages returns once the broker has it
			StartOffset:    kafka.FirstOffset,
		}),
		catalog: catalog,
		log:     log,
		done:    make(chan struct{}),
	}
}

// Start begins consuming in the background.
func (c *CatalogConsumer) Start() {
	c.once.Do(func() {
		if c.RetryMin <= 0 {
			c.RetryMin = 100 * time.Millisecond
		}
		if c.RetryMax <= 0 {
			c.RetryMax = 5 * time.Second
		}
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		go c.run(ctx)
	})
}

// Stop stops fetching, lets the event being applied finish or be abandoned
// (uncommitted, so it is redelivered) and closes the reader.
func (c *CatalogConsumer) Stop(ctx context.Context) error {
	c.once.Do(func() { close(c.done) }) // never started
	if c.cancel != nil {
		c.cancel()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return c.r.Close()
}

func (c *CatalogConsumer) run(ctx context.Context) {
	defer close(c.done)
	backoff := c.RetryMin
	for {
		m, err := c.r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.warn.Warn(c.log, "fetch", "cannot fetch from marketplace.kworks", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, c.RetryMax)
			continue
		}
		backoff = c.RetryMin
		if !c.apply(ctx, m) {
			return // stopping: the message stays uncommitted
		}
		for {
			err := c.r.CommitMessages(ctx, m)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			c.warn.Warn(c.log, "commit", "cannot commit marketplace.kworks offset", "partition", m.Partition, "offset", m.Offset, "err", err)
			if !sleep(ctx, c.RetryMin) {
				return
			}
		}
	}
}

// apply applies m, retrying transient failures until it succeeds or ctx ends. It
// returns false only when ctx ended first.
func (c *CatalogConsumer) apply(ctx context.Context, m kafka.Message) bool {
	var env event.Envelope
	if err := json.Unmarshal(m.Value, &env); err != nil {
		catalogEvents.WithLabelValues("invalid").Inc()
		c.log.Warn("skipping malformed marketplace.kworks message", "partition", m.Partition, "offset", m.Offset, "err", err)
		return true
	}
	backoff := c.RetryMin
	for {
		err := c.catalog.Apply(ctx, env)
		switch {
		case err == nil:
			catalogEvents.WithLabelValues("applied").Inc()
			return true
		case errors.Is(err, ErrInvalidEvent):
			catalogEvents.WithLabelValues("invalid").Inc()
			c.log.Warn("skipping invalid kwork event", "id", env.ID, "type", env.Type, "offset", m.Offset, "err", err)
			return true
		}
		catalogEvents.WithLabelValues("error").Inc()
		c.warn.Warn(c.log, "apply", "cannot apply kwork event; will retry", "id", env.ID, "type", env.Type, "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, c.RetryMax)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
