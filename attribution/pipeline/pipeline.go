package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/spool"
	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/internal/logx"
)

// Sink receives batches of events. Write must be safe to call again with the same batch
// after an error (sinks are at-least-once; consumers deduplicate by event id).
type Sink[T any] interface {
	Name() string
	Write(ctx context.Context, batch []T) error
}

// Config tunes a pipeline. The zero value works: every field documents its default.
type Config struct {
	// Name labels metrics and logs ("clicks", "impressions").
	Name string
	// QueueSize bounds events waiting to be batched; 0 means 32768. A full queue makes
	// Enqueue wait (backpressure) rather than drop.
	QueueSize int
	// BatchSize flushes a batch when it holds this many events; 0 means 20000.
	BatchSize int
	// FlushInterval flushes a non-empty batch at least this often; 0 means 1s.
	FlushInterval time.Duration
	// SinkQueue bounds batches waiting for each sink; 0 means 1.
	SinkQueue int
	// RetryMin and RetryMax bound the backoff between attempts of a failed write; 0 means 100ms and 5s.
	RetryMin, RetryMax time.Duration
	// Logger receives sink errors (throttled by the backoff); nil means slog.Default().
	Logger *slog.Logger
}

// MemoryBound is the most events a pipeline with c holds in memory: the queue, the batch
// the collector holds or hands over, SinkQueue batches waiting for each sink and the
// batch a sink is writing (the sinks share batches). Past it Enqueue waits.
func (c Config) MemoryBound() int {
	c.defaults()
	return c.QueueSize + (c.SinkQueue+2)*c.BatchSize
}

// NewDefaultConfig returns a config with every default filled in, the settings
// a pipeline built from the zero config runs with. They are the click pipeline's
// production settings; docs/performance.md ("Event pipeline defaults") says why.
func NewDefaultConfig() Config {
	var c Config
	c.defaults()
	return c
}

// Vars are the variables of the click and impression pipelines, the two that carry the
// edge's traffic; LoadEnv reads them.
var Vars = envvar.Table[Config]{Part: "events", Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_EVENT_BATCH_SIZE", Default: "20000", Help: "clicks (impressions) per ClickHouse insert and Kafka produce, 100 to 1000000; bigger batches cost ClickHouse less per row and hold more in memory",
		Set: envvar.Int(func(c *Config) *int { return &c.BatchSize }, 100, 1_000_000)},
	{Name: "REFEDGE_EVENT_QUEUE_SIZE", Default: "32768", Help: "clicks (impressions) waiting to be batched, at least 1024; a full queue makes the handlers wait. At most queue + 3 x batch events are in memory per pipeline",
		Set: envvar.Int(func(c *Config) *int { return &c.QueueSize }, 1024, 1<<30)},
	{Name: "REFEDGE_EVENT_FLUSH_INTERVAL", Default: "1s", Help: "a non-empty batch of clicks (impressions) is written at least this often, 10ms to 1m; shorter means more ClickHouse inserts and a shorter kill -9 window",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.FlushInterval }, 10*time.Millisecond, time.Minute)},
}}

// LoadEnv reads the pipeline variables that are set into c, collecting every problem;
// each message names its variable.
func (c *Config) LoadEnv(getenv func(string) string) error { return Vars.Load(c, getenv) }

func (c *Config) defaults() {
	if c.QueueSize <= 0 {
		c.QueueSize = 32768
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 20000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.SinkQueue <= 0 {
		c.SinkQueue = 1
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Pipeline batches events and fans each batch out to every sink.
type Pipeline[T any] struct {
	cfg     Config
	in      chan T
	sinks   []*sinkRunner[T]
	release func(T)

	stopOnce sync.Once
	stopping chan struct{}
	closed   atomic.Bool
	inflight atomic.Int64 // Enqueue calls between their closed check and their send
	done     chan struct{}
	abort    chan struct{} // closed when Stop's context expires: sinks give up retrying
	pending  atomic.Int64  // events accepted and not yet written by every sink

	spoolCfg spool.Config
	codec    event.Codec[T]

	// Counters of this pipeline, looked up once: Enqueue runs for every event.
	enqueued, queueFull prometheus.Counter
}

type batch[T any] struct {
	items []T
	refs  atomic.Int32
}

type sinkRunner[T any] struct {
	sink  Sink[T]
	in    chan *batch[T]
	wg    sync.WaitGroup
	spool *spool.Spool // nil without a spool
	// warn throttles the sink's repeated warnings (retries, spooling) to one line per
	// cause per interval; replayWarn the "replay paused" line, which a replay tried every
	// second during an outage would otherwise repeat, to one every pausedLogEvery.
	warn, replayWarn logx.Throttle
}

const pausedLogEvery = 30 * time.Second

// ErrStopped is returned by Enqueue after Stop.
var ErrStopped = errors.New("pipeline stopped")

// New starts a pipeline without a disk spool: failed writes are retried in
// memory. release is called once per event after every sink has written it (or given
// up); it may be nil.
func New[T any](cfg Config, release func(T), sinks ...Sink[T]) *Pipeline[T] {
	p, err := NewSpooled(cfg, spool.Config{}, event.Codec[T]{}, release, sinks...)
	if err != nil {
		panic(err) // unreachable: without a spool nothing can fail
	}
	return p
}

// NewSpooled starts a pipeline whose sinks spool to disk (sc.Dir/<sink>) the
// batches they cannot write, and replay them in order when the sink answers again.
// An empty sc.Dir disables spooling.
func NewSpooled[T any](cfg Config, sc spool.Config, codec event.Codec[T], release func(T), sinks ...Sink[T]) (*Pipeline[T], error) {
	cfg.defaults()
	sc.Defaults()
	p := &Pipeline[T]{
		cfg:      cfg,
		in:       make(chan T, cfg.QueueSize),
		release:  release,
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		abort:    make(chan struct{}),
	}
	p.spoolCfg, p.codec = sc, codec
	p.enqueued, p.queueFull = pipelineEnqueued.WithLabelValues(cfg.Name), pipelineQueueFull.WithLabelValues(cfg.Name)
	pipelineCapacity.WithLabelValues(cfg.Name).Set(float64(cfg.MemoryBound()))
	for _, s := range sinks {
		r := &sinkRunner[T]{sink: s, in: make(chan *batch[T], cfg.SinkQueue), replayWarn: logx.Throttle{Interval: pausedLogEvery}}
		if sc.Dir != "" {
			sp, err := spool.Open(sc, filepath.Join(sc.Dir, s.Name()), cfg.Logger, cfg.Name, s.Name())
			if err != nil {
				return nil, err
			}
			r.spool = sp
		}
		p.sinks = append(p.sinks, r)
	}
	for _, r := range p.sinks {
		r.wg.Add(1)
		go p.runSink(r)
	}
	go p.collect()
	return p, nil
}

// Enqueue hands e to the pipeline. It never fails while the pipeline runs; when the
// queue is full it waits for room. After Stop it returns ErrStopped and does not take e.
func (p *Pipeline[T]) Enqueue(e T) error {
	// inflight is raised before closed is read: once Stop has set closed, the collector
	// sees every sender that got past the check and waits for its send.
	p.inflight.Add(1)
	defer p.inflight.Add(-1)
	if p.closed.Load() {
		return ErrStopped
	}
	p.pending.Add(1)
	select {
	case p.in <- e:
	default:
		p.queueFull.Inc()
		p.in <- e
	}
	p.enqueued.Inc()
	return nil
}

// FullSpools names the sinks whose spool is full: their batches wait in memory and the
// queue will soon hold Enqueue back, so the process should not take more traffic.
func (p *Pipeline[T]) FullSpools() []string {
	var full []string
	for _, r := range p.sinks {
		if r.spool != nil && r.spool.FullLocked() {
			full = append(full, r.sink.Name())
		}
	}
	return full
}

// Len returns the number of events queued and not yet written by every sink.
func (p *Pipeline[T]) Len() int64 { return p.pending.Load() }

// collectPause is how long the collector lets events gather in the queue once one has
// arrived: it then takes them all at once and waits again, instead of being woken by
// every Enqueue (a goroutine wake-up per event, a futex call when the processor it
// wakes on was idle). Events wait at most this long more before joining a batch, which
// is cut by size or by FlushInterval anyway; an idle pipeline blocks on the queue and
// costs nothing. docs/performance.md, "Sinks per click". Zero (benchmarks set it, for a
// baseline) wakes the collector for every event.
var collectPause = time.Millisecond

func (p *Pipeline[T]) collect() {
	defer close(p.done)
	interval := p.cfg.FlushInterval
	// Jitter the first tick so replicas and pipelines do not flush in lockstep.
	timer := time.NewTimer(interval/2 + rand.N(interval/2+1))
	defer timer.Stop()
	pause := time.NewTimer(collectPause)
	pause.Stop()
	defer pause.Stop()
	buf := make([]T, 0, p.cfg.BatchSize)
	flush := func() {
		if len(buf) == 0 {
			return
		}
		b := &batch[T]{items: buf}
		b.refs.Store(int32(len(p.sinks)))
		if len(p.sinks) == 0 {
			p.finish(b)
		}
		for _, s := range p.sinks {
			s.in <- b
		}
		buf = make([]T, 0, p.cfg.BatchSize)
	}
	take := func(e T) {
		buf = append(buf, e)
		if len(buf) >= p.cfg.BatchSize {
			flush()
		}
	}
	tick := func() {
		flush()
		pipelineDepth.WithLabelValues(p.cfg.Name).Set(float64(p.pending.Load()))
		timer.Reset(interval)
	}
	// takeQueued takes the events queued now (not those that keep arriving meanwhile,
	// so a busy queue cannot hold the collector here) and reports whether there were any.
	takeQueued := func() bool {
		n := len(p.in)
		for range n {
			take(<-p.in)
		}
		return n > 0
	}
	stop := func() {
		p.drain(&buf, flush)
		for _, s := range p.sinks {
			close(s.in)
		}
	}
	for {
		select {
		case e := <-p.in:
			take(e)
		case <-timer.C:
			tick()
			continue
		case <-p.stopping:
			stop()
			return
		}
		// Events are arriving: take them a pause at a time until a pause brings none.
		for busy := collectPause > 0; busy; {
			pause.Reset(collectPause)
			select {
			case <-pause.C:
				busy = takeQueued()
			case <-timer.C:
				pause.Stop()
				takeQueued()
				tick()
			case <-p.stopping:
				pause.Stop()
				stop()
				return
			}
		}
	}
}

// drain takes every event still queued or being sent by an Enqueue that passed its
// closed check, then flushes.
func (p *Pipeline[T]) drain(buf *[]T, flush func()) {
	take := func(e T) {
		*buf = append(*buf, e)
		if len(*buf) >= p.cfg.BatchSize {
			flush()
		}
	}
	for {
		select {
		case e := <-p.in:
			take(e)
			continue
		default:
		}
		if p.inflight.Load() == 0 && len(p.in) == 0 {
			flush()
			return
		}
		select {
		case e := <-p.in:
			take(e)
		case <-time.After(time.Millisecond):
		}
	}
}

func (p *Pipeline[T]) runSink(r *sinkRunner[T]) {
	defer r.wg.Done()
	var tick <-chan time.Time
	if r.spool != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
		p.replay(r) // events spooled by an earlier run go first
	}
	for {
		select {
		case b, ok := <-r.in:
			if !ok {
				if r.spool != nil {
					if err := r.spool.Close(); err != nil {
						p.cfg.Logger.Error("cannot close spool", "pipeline", p.cfg.Name, "sink", r.sink.Name(), "err", err)
					}
				}
				return
			}
			p.deliver(r, b)
			if b.refs.Add(-1) == 0 {
				p.finish(b)
			}
		case <-tick:
			p.replay(r)
		}
	}
}

// deliver writes b to the sink, or to its spool once the sink has failed SpoolAfter
// times. While older events wait in the spool, new batches queue behind them on disk,
// so the sink sees events in order.
func (p *Pipeline[T]) deliver(r *sinkRunner[T], b *batch[T]) {
	name := r.sink.Name()
	if r.spool != nil && !r.spool.Empty() && !r.spool.Full() {
		err := spool.AppendBatch(r.spool, p.codec, b.items)
		if err == nil {
			return
		}
		p.cfg.Logger.Error("cannot spool batch; retrying the sink", "pipeline", p.cfg.Name, "sink", name, "err", err)
	}
	backoff := p.cfg.RetryMin
	for attempt := 1; ; attempt++ {
		start := time.Now()
		err := r.sink.Write(context.Background(), b.items)
		sinkFlushSeconds.WithLabelValues(p.cfg.Name, name).Observe(time.Since(start).Seconds())
		if err == nil {
			sinkWritten.WithLabelValues(p.cfg.Name, name).Add(float64(len(b.items)))
			return
		}
		sinkErrors.WithLabelValues(p.cfg.Name, name).Inc()
		if r.spool != nil && attempt >= p.spoolCfg.SpoolAfter {
			if r.spool.Full() {
				p.cfg.Logger.Error("spool is full; holding the batch in memory", "pipeline", p.cfg.Name, "sink", name, "events", len(b.items))
			} else if serr := spool.AppendBatch(r.spool, p.codec, b.items); serr == nil {
				r.warn.Warn(p.cfg.Logger, "spooled", "sink unavailable; batch spooled to disk", "pipeline", p.cfg.Name, "sink", name,
					"events", len(b.items), "err", err)
				return
			} else {
				p.cfg.Logger.Error("cannot spool batch", "pipeline", p.cfg.Name, "sink", name, "err", serr)
			}
		}
		r.warn.Warn(p.cfg.Logger, "retry", "sink write failed; will retry", "pipeline", p.cfg.Name, "sink", name,
			"events", len(b.items), "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-time.After(backoff + rand.N(backoff/4+1)):
		case <-p.abort:
			sinkLost.WithLabelValues(p.cfg.Name, name).Add(float64(len(b.items)))
			p.cfg.Logger.Error("sink gave up at shutdown", "pipeline", p.cfg.Name, "sink", name, "events", len(b.items), "err", err)
			return
		}
		backoff = min(backoff*2, p.cfg.RetryMax)
	}
}

// replay delivers spooled segments, oldest first, until the spool is empty or the sink
// fails (then the next tick tries again).
func (p *Pipeline[T]) replay(r *sinkRunner[T]) {
	name := r.sink.Name()
	for r.spool != nil && !r.spool.Empty() {
		err := spool.ReplayOldest(r.spool, p.codec, p.cfg.BatchSize, func(items []T) error {
			if err := r.sink.Write(context.Background(), items); err != nil {
				sinkErrors.WithLabelValues(p.cfg.Name, name).Inc()
				return err
			}
			sinkWritten.WithLabelValues(p.cfg.Name, name).Add(float64(len(items)))
			spool.ReplayedTotal.WithLabelValues(p.cfg.Name, name).Add(float64(len(items)))
			if p.release != nil {
				for _, e := range items {
					p.release(e)
				}
			}
			return nil
		})
		if err != nil {
			r.replayWarn.Warn(p.cfg.Logger, "paused", "spool replay paused; the sink is still unavailable", "pipeline", p.cfg.Name,
				"sink", name, "spooled_bytes", r.spool.SizeLocked(), "next_log_in", pausedLogEvery, "err", err)
			return
		}
	}
	r.replayWarn.Reset("paused") // drained: the next outage logs at once
}

func (p *Pipeline[T]) finish(b *batch[T]) {
	if p.release != nil {
		for _, e := range b.items {
			p.release(e)
		}
	}
	p.pending.Add(-int64(len(b.items)))
}

// Stop stops taking events, flushes every queued event to every sink and waits for the
// writes. If ctx ends first, sinks stop retrying and Stop returns ctx's error.
func (p *Pipeline[T]) Stop(ctx context.Context) error {
	p.stopOnce.Do(func() {
		p.closed.Store(true)
		close(p.stopping)
	})
	finished := make(chan struct{})
	go func() {
		<-p.done
		for _, s := range p.sinks {
			s.wg.Wait()
		}
		close(finished)
	}()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		select {
		case <-p.abort:
		default:
			close(p.abort)
		}
		<-finished
		return ctx.Err()
	}
}
