package kafkax

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/internal/logx"
)

// Handler handles a batch of messages in two steps. It applies the batch's effects and
// returns a finisher (nil when there is nothing more to do), which publishes them, for
// instance by producing events; the consumer commits the batch's offsets once the
// finisher returned nil. The next batch is handled while the previous one finishes.
// Either step may fail and is then retried, so both must be idempotent per message.
type Handler func(ctx context.Context, msgs []kafka.Message) (finish func(ctx context.Context) error, err error)

// ConsumerConfig describes one consumer-group reader and its batching.
type ConsumerConfig struct {
	// Name labels logs and readiness errors ("orders").
	Name    string
	Brokers []string
	Group   string
	Topics  []string
	// MaxBatch and BatchWait: a batch closes at MaxBatch messages (0: 1) or BatchWait
	// after its first message.
	MaxBatch  int
	BatchWait time.Duration
	// RetryMin and RetryMax bound the backoff after a failed fetch or step (0: 100 ms
	// and 5 s).
	RetryMin, RetryMax time.Duration
	// Later, when set, picks the step errors that mean "fine, but must wait": such a
	// step is retried after a short jittered pause (RetryMin/2, doubling up to
	// RetryMax/4), logged at debug level and not counted as a failure.
	Later func(error) bool
	// Fatal, when set, picks the step errors that stop the consumer at once, without
	// committing (tests use it to simulate a process killed mid-batch).
	Fatal func(error) bool
	// Log receives the consumer's warnings; nil means slog.Default().
	Log *slog.Logger
	// Metrics, each optional: the time of every attempt of a step, the failed attempts,
	// the time of a commit, the failed commits, and the messages committed.
	StepSeconds, CommitSeconds prometheus.Observer
	StepErrors, CommitErrors   prometheus.Counter
	Messages                   prometheus.Counter
}

// Consumer reads one consumer group in batches and commits a batch only after its
// handler and finisher succeeded. It never skips a batch: a failing one is retried with
// capped backoff until it succeeds or the consumer stops, and what was not committed is
// delivered again on restart (at-least-once; handlers are idempotent). Warnings an
// outage repeats are throttled to one line per cause per interval.
type Consumer struct {
	cfg    ConsumerConfig
	rc     kafka.ReaderConfig
	handle Handler
	warn   logx.Throttle

	mu sync.Mutex
	r  *kafka.Reader // created by Start: a group reader joins its group at once

	committed atomic.Int64  // messages committed
	failing   atomic.Bool   // the last step failed
	done      chan struct{} // closed when consuming has ended; err is then set
	err       error
}

// NewConsumer returns a consumer; Start consumes.
func NewConsumer(cfg ConsumerConfig, h Handler) *Consumer {
	cfg.MaxBatch = max(cfg.MaxBatch, 1)
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 100 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Second, cfg.RetryMin)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
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
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			cfg.Log.Debug("kafka reader", "consumer", cfg.Name, "msg", msg, "args", args)
		}),
	}
	if len(cfg.Topics) == 1 {
		rc.Topic = cfg.Topics[0]
	} else {
		rc.GroupTopics = cfg.Topics
	}
	return &Consumer{cfg: cfg, rc: rc, handle: h, done: make(chan struct{})}
}

// Start joins the group and consumes in the background until fetchCtx ends (then it
// finishes and commits the batches in hand) or workCtx ends (then it abandons them
// uncommitted), or a step fails with a Fatal error. Done is closed then, and Err says
// why. Start once; Close the consumer after Done.
func (c *Consumer) Start(fetchCtx, workCtx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.r != nil {
		panic("kafkax: " + c.cfg.Name + " consumer started twice")
	}
	c.r = kafka.NewReader(c.rc)
	go func() {
		c.err = c.run(fetchCtx, workCtx)
		close(c.done)
	}()
}

// Done is closed when the consumer has stopped consuming.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// Err returns why the consumer stopped, once Done is closed: nil after fetchCtx ended
// and the batches in hand were committed.
func (c *Consumer) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

func (c *Consumer) run(fetchCtx, workCtx context.Context) error {
	var finishing chan error // the previous batch's finisher and commit
	wait := func() error {
		if finishing == nil {
			return nil
		}
		err := <-finishing
		finishing = nil
		return err
	}
	backoff := c.cfg.RetryMin
	for {
		batch, err := c.fetch(fetchCtx, make([]kafka.Message, 0, c.cfg.MaxBatch))
		if len(batch) == 0 {
			if fetchCtx.Err() != nil {
				return wait()
			}
			c.warn.Warn(c.cfg.Log, "fetch", "cannot fetch from Kafka; will retry", "consumer", c.cfg.Name,
				"topics", c.cfg.Topics, "retry_in", backoff, "err", err)
			if !Sleep(fetchCtx, backoff) {
				return wait()
			}
			backoff = min(backoff*2, c.cfg.RetryMax)
			continue
		}
		backoff = c.cfg.RetryMin
		var finish func(context.Context) error
		err = c.retry(fetchCtx, workCtx, len(batch), func() (err error) {
			finish, err = c.handle(workCtx, batch)
			return err
		})
		if err != nil {
			return errors.Join(err, wait())
		}
		if err := wait(); err != nil {
			return err
		}
		finishing = make(chan error, 1)
		go func() { finishing <- c.finish(fetchCtx, workCtx, batch, finish) }()
	}
}

// finish runs a batch's finisher until it succeeds, then commits the batch.
func (c *Consumer) finish(fetchCtx, workCtx context.Context, batch []kafka.Message, finish func(context.Context) error) error {
	if finish != nil {
		if err := c.retry(fetchCtx, workCtx, len(batch), func() error { return finish(workCtx) }); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := c.r.CommitMessages(workCtx, batch...); err != nil {
		// The batch's effects are done and idempotent: a later commit covers these
		// offsets, or after a rebalance or restart the batch is delivered again and
		// changes nothing.
		c.warn.Warn(c.cfg.Log, "commit", "cannot commit offsets; the batch may be delivered again", "consumer", c.cfg.Name,
			"messages", len(batch), "err", err)
		inc(c.cfg.CommitErrors, 1)
		return workCtx.Err()
	}
	observe(c.cfg.CommitSeconds, time.Since(start))
	c.committed.Add(int64(len(batch)))
	inc(c.cfg.Messages, len(batch))
	return nil
}

// fetch blocks for one message, then takes what else arrives within BatchWait, up to
// MaxBatch.
func (c *Consumer) fetch(ctx context.Context, batch []kafka.Message) ([]kafka.Message, error) {
	m, err := c.r.FetchMessage(ctx)
	if err != nil {
		return batch, err
	}
	batch = append(batch, m)
	if len(batch) >= c.cfg.MaxBatch {
		return batch, nil
	}
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

// retry runs step until it succeeds. It gives up, returning the step's error, when
// stopping (the batch stays uncommitted and is delivered again) or on a Fatal error.
func (c *Consumer) retry(fetchCtx, workCtx context.Context, n int, step func() error) error {
	backoff, later := c.cfg.RetryMin, c.cfg.RetryMin/2
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := step()
		observe(c.cfg.StepSeconds, time.Since(start))
		if err == nil {
			c.failing.Store(false)
			return nil
		}
		if c.cfg.Fatal != nil && c.cfg.Fatal(err) {
			return err
		}
		if c.cfg.Later != nil && c.cfg.Later(err) {
			// Jittered, so that two consumers waiting on each other do not retry in step.
			c.cfg.Log.Debug("batch must wait", "consumer", c.cfg.Name, "messages", n, "attempt", attempt, "reason", err)
			if !Sleep(fetchCtx, later+rand.N(later+1)) {
				return err
			}
			later = min(later*2, c.cfg.RetryMax/4)
			continue
		}
		c.failing.Store(true)
		inc(c.cfg.StepErrors, 1)
		if workCtx.Err() != nil || fetchCtx.Err() != nil {
			c.cfg.Log.Warn("stopping with a failed batch uncommitted; it will be delivered again", "consumer", c.cfg.Name,
				"messages", n, "err", err)
			return err
		}
		c.warn.Warn(c.cfg.Log, "batch", "batch failed; will retry", "consumer", c.cfg.Name, "messages", n,
			"attempt", attempt, "retry_in", backoff, "err", err)
		if !Sleep(fetchCtx, backoff+rand.N(backoff/4+1)) {
			return err
		}
		backoff = min(backoff*2, c.cfg.RetryMax)
	}
}

// Ready reports whether the consumer runs and its last step did not fail.
func (c *Consumer) Ready() error {
	c.mu.Lock()
	started := c.r != nil
	c.mu.Unlock()
	select {
	case <-c.done:
		return errors.New(c.cfg.Name + " consumer stopped")
	default:
	}
	switch {
	case !started:
		return errors.New(c.cfg.Name + " consumer not started")
	case c.failing.Load():
		return errors.New(c.cfg.Name + " consumer is retrying a failed batch")
	}
	return nil
}

// Committed returns how many messages the consumer has committed.
func (c *Consumer) Committed() int64 { return c.committed.Load() }

// Stats returns the reader's statistics (zero before Start); Lag is the consumer lag.
func (c *Consumer) Stats() kafka.ReaderStats {
	c.mu.Lock()
	r := c.r
	c.mu.Unlock()
	if r == nil {
		return kafka.ReaderStats{}
	}
	return r.Stats()
}

// Close leaves the group without committing anything more. Call it after Done (or when
// the consumer was never started).
func (c *Consumer) Close() error {
	c.mu.Lock()
	r := c.r
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Close()
}

func observe(o prometheus.Observer, d time.Duration) {
	if o != nil {
		o.Observe(d.Seconds())
	}
}

func inc(c prometheus.Counter, n int) {
	if c != nil {
		c.Add(float64(n))
	}
}

// Sleep waits d, or less if ctx ends first; it reports whether it waited all of d.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
