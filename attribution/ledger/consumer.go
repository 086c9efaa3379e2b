package ledger

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/internal/logx"
)

// BatchHandler handles a batch of messages in two steps. The handler applies the
// batch's effects and returns a finisher, which publishes them (produces events); the
// consumer commits the batch's offsets once the finisher returned nil. The next batch is
// prepared while the previous one finishes, so Redis, the client and the brokers work
// at the same time. Either step may fail and is then retried, so both must be
// idempotent per message.
type BatchHandler func(ctx context.Context, msgs []kafka.Message) (finish func(ctx context.Context) error, err error)

// errCrash, returned by a handler, stops its consumer at once without committing: tests
// use it to simulate a process killed mid-batch.
var errCrash = errors.New("simulated crash")

// consumerConfig describes one consumer-group reader and its batching.
type consumerConfig struct {
	// Name labels logs and metrics ("orders").
	Name    string
	Brokers []string
	Group   string
	Topics  []string
	// MaxBatch and BatchWait: a batch closes at MaxBatch messages or BatchWait after its
	// first message.
	MaxBatch  int
	BatchWait time.Duration
	// RetryMin and RetryMax bound the backoff of a failed batch.
	RetryMin, RetryMax time.Duration
	Log                *slog.Logger
}

// consumer reads one consumer group in batches and commits a batch only after its
// handler succeeded. It never skips a batch: a failing one is retried with backoff until
// it succeeds or the consumer stops, and what was not committed is delivered again on
// restart (at-least-once; handlers are idempotent).
type consumer struct {
	cfg    consumerConfig
	rc     kafka.ReaderConfig
	r      *kafka.Reader // created by start: a group reader joins its group at once
	handle BatchHandler

	warn logx.Throttle // repeated warnings: one line per cause per interval

	committed atomic.Int64 // messages committed
	failing   atomic.Bool  // the last step failed
	exited    atomic.Bool
	done      chan struct{}
	err       error // why run returned, read after exited
}

func newConsumer(cfg consumerConfig, h BatchHandler) *consumer {
	rc := kafka.ReaderConfig{
		Brokers:           cfg.Brokers,
		GroupID:           cfg.Group,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           250 * time.Millisecond,
		QueueCapacity:     max(cfg.MaxBatch, 100),
		CommitInterval:    0, // commit synchronously, when told to
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    10 * time.Millisecond,
		ReadBackoffMax:    250 * time.Millisecond,
		Logger:            nil,
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Log.Debug("kafka reader", "consumer", cfg.Name, "msg", msg, "args", args)
		}),
	}
	if len(cfg.Topics) == 1 {
		rc.Topic = cfg.Topics[0]
	} else {
		rc.GroupTopics = cfg.Topics
	}
	return &consumer{cfg: cfg, rc: rc, handle: h, done: make(chan struct{})}
}

// start joins the group and consumes in the background (see run).
func (c *consumer) start(fetchCtx, workCtx context.Context) {
	c.r = kafka.NewReader(c.rc)
	go c.run(fetchCtx, workCtx)
}

// close leaves the group without committing anything more.
func (c *consumer) close() error {
	if c.r == nil {
		return nil
	}
	return c.r.Close()
}

// run consumes until fetchCtx ends (then it finishes and commits the batches in hand)
// or workCtx ends (then it abandons them uncommitted).
func (c *consumer) run(fetchCtx, workCtx context.Context) {
	defer close(c.done)
	defer c.exited.Store(true)
	var finishing chan error // the previous batch's finisher and commit
	wait := func() error {
		if finishing == nil {
			return nil
		}
		err := <-finishing
		finishing = nil
		return err
	}
	defer func() { _ = wait() }()
	for {
		batch, err := c.fetch(fetchCtx, make([]kafka.Message, 0, c.cfg.MaxBatch))
		if len(batch) == 0 {
			if fetchCtx.Err() != nil {
				c.err = wait()
				return
			}
			c.warn.Warn(c.cfg.Log, "fetch", "cannot fetch from Kafka; will retry", "consumer", c.cfg.Name, "err", err)
			if !sleepCtx(fetchCtx, c.cfg.RetryMin) {
				c.err = wait()
				return
			}
			continue
		}
		var finish func(context.Context) error
		err = c.retry(fetchCtx, workCtx, len(batch), func() (err error) {
			finish, err = c.handle(workCtx, batch)
			return err
		})
		if err != nil {
			c.err = errors.Join(err, wait())
			return
		}
		if err := wait(); err != nil {
			c.err = err
			return
		}
		finishing = make(chan error, 1)
		go func() { finishing <- c.finish(fetchCtx, workCtx, batch, finish) }()
	}
}

// finish runs a batch's finisher until it succeeds, then commits the batch.
func (c *consumer) finish(fetchCtx, workCtx context.Context, batch []kafka.Message, finish func(context.Context) error) error {
	if err := c.retry(fetchCtx, workCtx, len(batch), func() error { return finish(workCtx) }); err != nil {
		return err
	}
	start := time.Now()
	if err := c.r.CommitMessages(workCtx, batch...); err != nil {
		// The batch's effects are durable and idempotent: after a rebalance the next
		// owner gets it again and changes nothing.
		c.cfg.Log.Warn("cannot commit offsets; the batch will be delivered again", "consumer", c.cfg.Name,
			"messages", len(batch), "err", err)
		consumerCommitErrors.WithLabelValues(c.cfg.Name).Inc()
		return workCtx.Err()
	}
	consumerCommitSeconds.WithLabelValues(c.cfg.Name).Observe(time.Since(start).Seconds())
	c.committed.Add(int64(len(batch)))
	consumerMessages.WithLabelValues(c.cfg.Name).Add(float64(len(batch)))
	return nil
}

// fetch blocks for one message, then takes what else arrives within BatchWait, up to
// MaxBatch.
func (c *consumer) fetch(ctx context.Context, batch []kafka.Message) ([]kafka.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		return batch, err
	}
	batch = append(batch, m)
	fill, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	for len(batch) < c.cfg.MaxBatch {
		m, err := c.r.FetchMessage(fill)
		if err != nil {
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// retry runs step until it succeeds. It gives up, returning an error, when stopping
// (the batch stays uncommitted and is delivered again) or on a simulated crash.
func (c *consumer) retry(fetchCtx, workCtx context.Context, n int, step func() error) error {
	backoff, later := c.cfg.RetryMin, c.cfg.RetryMin/2
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := step()
		consumerBatchSeconds.WithLabelValues(c.cfg.Name).Observe(time.Since(start).Seconds())
		if err == nil {
			c.failing.Store(false)
			return nil
		}
		if errors.Is(err, errCrash) {
			return err
		}
		if errors.Is(err, errLater) {
			// Jittered, so that two consumers waiting on each other do not retry in step.
			c.cfg.Log.Debug("batch must wait", "consumer", c.cfg.Name, "messages", n, "attempt", attempt, "reason", err)
			if !sleepCtx(fetchCtx, later+rand.N(later+1)) {
				return err
			}
			later = min(later*2, c.cfg.RetryMax/4)
			continue
		}
		c.failing.Store(true)
		consumerBatchErrors.WithLabelValues(c.cfg.Name).Inc()
		if workCtx.Err() != nil || fetchCtx.Err() != nil {
			c.cfg.Log.Warn("stopping with a failed batch uncommitted; it will be delivered again", "consumer", c.cfg.Name,
				"messages", n, "err", err)
			return err
		}
		c.warn.Warn(c.cfg.Log, "batch", "batch failed; will retry", "consumer", c.cfg.Name, "messages", n,
			"attempt", attempt, "retry_in", backoff, "err", err)
		if !sleepCtx(fetchCtx, backoff+rand.N(backoff/4+1)) {
			return err
		}
		backoff = min(backoff*2, c.cfg.RetryMax)
	}
}

// ready reports whether the consumer runs and its last batch did not fail.
func (c *consumer) ready() error {
	switch {
	case c.exited.Load():
		return errors.New(c.cfg.Name + " consumer stopped")
	case c.failing.Load():
		return errors.New(c.cfg.Name + " consumer is retrying a failed batch")
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
