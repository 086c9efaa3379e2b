package kafkax

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
)

const testTopic = "kafkax.test"

// consumerEnv is an embedded broker (over TCP, as in production) with n messages on
// testTopic, keyed so they spread over its partitions.
type consumerEnv struct {
	brokers []string
	n       int
}

func newConsumerEnv(t *testing.T, n int) *consumerEnv {
	t.Helper()
	b, err := StartEmbedded(EmbeddedConfig{Topics: []string{testTopic}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addrs()...), Topic: testTopic, Balancer: &kafka.Hash{}, BatchTimeout: time.Millisecond}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	return &consumerEnv{brokers: b.Addrs(), n: n}
}

func (e *consumerEnv) config(group string, log *slog.Logger) ConsumerConfig {
	return ConsumerConfig{Name: "test", Brokers: e.brokers, Group: group, Topics: []string{testTopic},
		MaxBatch: 4, BatchWait: 20 * time.Millisecond, RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond, Log: log}
}

// committedOffsets sums the group's committed offsets over the topic's partitions.
func (e *consumerEnv) committedOffsets(t *testing.T, group string) int64 {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(e.brokers...)}
	res, err := c.OffsetFetch(t.Context(), &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{testTopic: {0, 1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, p := range res.Topics[testTopic] {
		sum += max(p.CommittedOffset, 0)
	}
	return sum
}

// running is a started consumer: stop ends fetching and returns Err.
type running struct {
	c      *Consumer
	cancel context.CancelFunc
}

func start(t *testing.T, cfg ConsumerConfig, h Handler) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: NewConsumer(cfg, h), cancel: cancel}
	if err := r.c.Ready(); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Errorf("Ready before Start: %v", err)
	}
	r.c.Start(ctx, context.Background())
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.c.Done():
		case <-time.After(30 * time.Second):
			t.Error("consumer still running 30s after the end of the test")
		}
		r.c.Close()
	})
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.c.Done():
		return r.c.Err()
	case <-time.After(30 * time.Second):
		t.Fatal("consumer did not stop within 30s")
		return nil
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// Offsets are committed only after the finisher succeeded: while it fails and while it
// is held, nothing is committed; every message reaches the handler in batches of at
// most MaxBatch.
func TestConsumerCommitsAfterFinish(t *testing.T) {
	t.Parallel()
	e := newConsumerEnv(t, 20)
	group := "commit-" + t.Name()
	release := make(chan struct{})
	var (
		mu          sync.Mutex
		seen        = map[string]bool{}
		biggest     int
		finishFails atomic.Int32
	)
	cfg := e.config(group, slog.New(slog.DiscardHandler))
	cfg.Messages = prometheus.NewCounter(prometheus.CounterOpts{Name: "m"})
	r := start(t, cfg, func(ctx context.Context, msgs []kafka.Message) (func(context.Context) error, error) {
		mu.Lock()
		for _, m := range msgs {
			seen[string(m.Value)] = true
		}
		biggest = max(biggest, len(msgs))
		mu.Unlock()
		return func(ctx context.Context) error {
			if finishFails.Add(1) <= 2 {
				return errors.New("cannot publish yet")
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, nil
	})
	waitUntil(t, "the finisher to be retried and held", func() bool { return finishFails.Load() >= 3 })
	if got := e.committedOffsets(t, group); got != 0 || r.c.Committed() != 0 {
		t.Fatalf("committed %d offsets (%d messages) before any finisher succeeded", got, r.c.Committed())
	}
	close(release)
	waitUntil(t, "every message committed", func() bool { return r.c.Committed() == int64(e.n) })
	if got := e.committedOffsets(t, group); got != int64(e.n) {
		t.Fatalf("group offsets sum to %d, want %d", got, e.n)
	}
	if got := counterValue(cfg.Messages); got != float64(e.n) {
		t.Errorf("Messages counter %v, want %d", got, e.n)
	}
	mu.Lock()
	if len(seen) != e.n || biggest > cfg.MaxBatch {
		t.Errorf("handler saw %d distinct messages, batches up to %d; want %d, at most %d", len(seen), biggest, e.n, cfg.MaxBatch)
	}
	mu.Unlock()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
	if err := r.c.Ready(); err == nil || !strings.Contains(err.Error(), "consumer stopped") {
		t.Errorf("Ready after stop: %v", err)
	}
}

// A failing handler is retried with backoff; meanwhile the consumer is not ready and
// warns once (throttled), and it is ready again once the batch goes through. Errors
// marked Later are neither failures nor warnings.
func TestConsumerRetriesAndReadiness(t *testing.T) {
	t.Parallel()
	e := newConsumerEnv(t, 1)
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	errLater := errors.New("wait a little")
	cfg := e.config("retry-"+t.Name(), log)
	cfg.Later = func(err error) bool { return errors.Is(err, errLater) }
	cfg.StepErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "e"})
	var attempts atomic.Int32
	failUntil := int32(50)
	probe, probed := make(chan struct{}), make(chan struct{})
	r := start(t, cfg, func(ctx context.Context, msgs []kafka.Message) (func(context.Context) error, error) {
		switch n := attempts.Add(1); {
		case n == 1:
			return nil, errLater
		case n == 10: // the test asks Ready while the batch keeps failing
			probe <- struct{}{}
			<-probed
		case n < failUntil:
		default:
			return nil, nil
		}
		return nil, errors.New("redis is down")
	})
	<-probe
	err := r.c.Ready()
	close(probed)
	if err == nil || !strings.Contains(err.Error(), "retrying a failed batch") {
		t.Errorf("Ready while the batch fails: %v", err)
	}
	waitUntil(t, "the message committed", func() bool { return r.c.Committed() == 1 })
	if err := r.c.Ready(); err != nil {
		t.Errorf("Ready after the batch went through: %v", err)
	}
	// The Later attempt and the successful one are not failures.
	if got := counterValue(cfg.StepErrors); got != float64(failUntil-2) {
		t.Errorf("StepErrors %v, want %d", got, failUntil-2)
	}
	logMu.Lock()
	warnings := strings.Count(logs.String(), "batch failed; will retry")
	logMu.Unlock()
	if warnings != 1 {
		t.Errorf("%d warnings for %d failed attempts, want 1 (throttled):\n%s", warnings, failUntil-2, logs.String())
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// A Fatal error stops the consumer at once without committing; the next member of the
// group gets the messages again (at-least-once).
func TestConsumerFatalRedelivers(t *testing.T) {
	t.Parallel()
	e := newConsumerEnv(t, 5)
	group := "fatal-" + t.Name()
	crash := errors.New("simulated crash")
	cfg := e.config(group, slog.New(slog.DiscardHandler))
	cfg.MaxBatch = 100
	cfg.Fatal = func(err error) bool { return errors.Is(err, crash) }
	r := start(t, cfg, func(context.Context, []kafka.Message) (func(context.Context) error, error) { return nil, crash })
	select {
	case <-r.c.Done():
		if err := r.c.Err(); !errors.Is(err, crash) {
			t.Fatalf("Err() = %v, want the crash", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer did not stop on a Fatal error")
	}
	if err := r.c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.committedOffsets(t, group); got != 0 {
		t.Fatalf("%d offsets committed by a crashed consumer", got)
	}
	var got atomic.Int64
	r2 := start(t, cfg, func(_ context.Context, msgs []kafka.Message) (func(context.Context) error, error) {
		got.Add(int64(len(msgs)))
		return nil, nil
	})
	waitUntil(t, "the messages delivered again and committed", func() bool { return r2.c.Committed() == int64(e.n) })
	if got.Load() != int64(e.n) {
		t.Errorf("the second member handled %d messages, want %d", got.Load(), e.n)
	}
}
