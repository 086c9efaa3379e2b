package ledger

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/refedge/refedge/internal/kafkax"
)

// BatchHandler handles a batch of messages in two steps (kafkax.Handler): the handler
// applies the batch's effects and returns a finisher, which publishes them (produces
// events); the consumer commits the batch's offsets once the finisher returned nil.
// Either step may fail and is then retried, so both must be idempotent per message.
type BatchHandler = kafkax.Handler

// errCrash, returned by a handler, stops its consumer at once without committing: tests
// use it to simulate a process killed mid-batch.
var errCrash = errors.New("simulated crash")

// consumerConfig describes one consumer-group reader and its batching; newConsumer
// adds the ledger's errors and metrics.
type consumerConfig = kafkax.ConsumerConfig

// consumer is the ledger's kafkax.Consumer: one consumer group read in batches, a
// batch committed only after its handler and finisher succeeded, a failing batch
// retried with backoff (errLater: shortly, without counting as a failure; errCrash:
// stop at once), with the ledger's metrics.
type consumer struct {
	cfg consumerConfig
	r   *kafkax.Consumer

	committed committedCount // messages committed
	exited    atomic.Bool
	done      chan struct{}
	err       error // why it stopped, read after exited
}

type committedCount struct{ kc *kafkax.Consumer }

func (c committedCount) Load() int64 { return c.kc.Committed() }

func newConsumer(cfg consumerConfig, h BatchHandler) *consumer {
	cfg.Later = func(err error) bool { return errors.Is(err, errLater) }
	cfg.Fatal = func(err error) bool { return errors.Is(err, errCrash) }
	cfg.StepSeconds = consumerBatchSeconds.WithLabelValues(cfg.Name)
	cfg.StepErrors = consumerBatchErrors.WithLabelValues(cfg.Name)
	cfg.CommitSeconds = consumerCommitSeconds.WithLabelValues(cfg.Name)
	cfg.CommitErrors = consumerCommitErrors.WithLabelValues(cfg.Name)
	cfg.Messages = consumerMessages.WithLabelValues(cfg.Name)
	kc := kafkax.NewConsumer(cfg, h)
	return &consumer{cfg: cfg, r: kc, committed: committedCount{kc}, done: make(chan struct{})}
}

// start joins the group and consumes in the background until fetchCtx ends (then it
// finishes and commits the batches in hand) or workCtx ends (then it abandons them
// uncommitted).
func (c *consumer) start(fetchCtx, workCtx context.Context) {
	c.r.Start(fetchCtx, workCtx)
	go func() {
		<-c.r.Done()
		c.err = c.r.Err()
		c.exited.Store(true)
		close(c.done)
	}()
}

// close leaves the group without committing anything more.
func (c *consumer) close() error { return c.r.Close() }

// ready reports whether the consumer runs and its last batch did not fail.
func (c *consumer) ready() error { return c.r.Ready() }
