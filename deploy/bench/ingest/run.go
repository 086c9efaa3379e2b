// Package ingest measures how fast the edge's event pipeline moves clicks from its queue
// into ClickHouse and the Kafka broker, and how much memory the process holds meanwhile.
// `refedge bench-ingest` wires it to the pipelines serve builds (same sinks, codecs and
// settings); deploy/bench/run.sh runs it as part of `make bench`.
//
// Producers enqueue realistic clicks as fast as the pipeline takes them (its queue
// applies backpressure) for Duration. Rows are counted in ClickHouse and messages by the
// broker's offsets, not taken from the writers' word. RSS comes from
// /proc/self/status, the Go heap from runtime/metrics; RSS is also read by the producer
// that enqueues the Mark-th event, at that moment.
package ingest

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// Config is one measurement. Enqueue, Pending and Stop are required.
type Config struct {
	// Duration is how long producers enqueue; 0 means 60s.
	Duration time.Duration
	// Producers is the number of goroutines enqueueing, like the edge's handlers; 0
	// means 8.
	Producers int
	// Mark is the enqueue count at which RSS is read; 0 means 1,000,000.
	Mark int64
	// Sample is how often sinks are counted during the load; 0 means 10s.
	Sample time.Duration
	// Enqueue hands a click to the pipeline; it waits while the queue is full.
	Enqueue func(*event.Click) error
	// Release returns a click that Enqueue refused.
	Release func(*event.Click)
	// Pending reports events accepted and not yet written by every sink.
	Pending func() int64
	// Stop flushes the pipeline after the load and waits for the writes.
	Stop func(context.Context) error
	// Counters count what reached each destination (ClickHouse rows, broker messages).
	Counters []Counter
	// Watch lists other processes (ClickHouse, the broker) whose CPU and RSS are reported.
	Watch []Process
	// AtMark, when set, runs after the Mark-th enqueue has been measured (e.g. to write
	// a heap profile).
	AtMark func()
	// Out receives progress and the report; nil discards them.
	Out io.Writer
}

// Counter counts events that reached one destination, by asking the destination.
type Counter struct {
	Name  string
	Count func(context.Context) (int64, error)
}

// Process is another process to watch, by pid.
type Process struct{ Name, PID string }

// Result is what one measurement found.
type Result struct {
	Duration  time.Duration // producers' run
	Enqueued  int64
	Producers int
	Sinks     []SinkResult
	// At the Mark-th enqueue: when, RSS, Go heap, events pending in the pipeline.
	Mark                           int64
	MarkAt                         time.Duration
	MarkRSS, MarkHeap, MarkPending int64
	PeakRSS, PeakHeap, PeakPending int64
	CPU                            time.Duration // this process, during the load
	GenCPU                         time.Duration // the generator's own CPU per click, measured alone
	GCs                            uint64
	Watched                        []WatchResult
	Drain                          time.Duration // Stop after the load
	DrainErr                       error
}

// SinkResult is one destination's count.
type SinkResult struct {
	Name string
	// AtEnd counted when the producers stopped, at AtEndTime after the start.
	AtEnd     int64
	AtEndTime time.Duration
	// MinRate is the lowest rate over the sampling intervals.
	MinRate float64
	// Final counted after the pipeline drained.
	Final int64
	Err   error
}

// Rate is the destination's sustained rate over the load, events per second.
func (s SinkResult) Rate() float64 {
	if s.AtEndTime <= 0 {
		return 0
	}
	return float64(s.AtEnd) / s.AtEndTime.Seconds()
}

// WatchResult is another process's CPU over the load and its peak RSS.
type WatchResult struct {
	Name    string
	CPU     time.Duration
	PeakRSS int64
}

func (c *Config) defaults() {
	if c.Duration <= 0 {
		c.Duration = 60 * time.Second
	}
	if c.Producers <= 0 {
		c.Producers = 8
	}
	if c.Mark <= 0 {
		c.Mark = 1_000_000
	}
	if c.Sample <= 0 {
		c.Sample = 10 * time.Second
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Release == nil {
		c.Release = event.ReleaseClick
	}
}

// Run measures. It returns an error only when the measurement itself could not be made
// (a destination cannot be counted before the load); sink failures are in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	res := &Result{Producers: cfg.Producers, Mark: cfg.Mark, GenCPU: generatorCost()}
	base := make([]int64, len(cfg.Counters))
	for i, c := range cfg.Counters {
		n, err := c.Count(ctx)
		if err != nil {
			return nil, fmt.Errorf("cannot count %s before the load: %w", c.Name, err)
		}
		base[i] = n
		res.Sinks = append(res.Sinks, SinkResult{Name: c.Name, MinRate: -1})
	}
	count := func(i int) (int64, error) {
		n, err := cfg.Counters[i].Count(ctx)
		return n - base[i], err
	}
	watchCPU0 := make([]time.Duration, len(cfg.Watch))
	for i, p := range cfg.Watch {
		watchCPU0[i], _ = procCPU(p.PID)
		res.Watched = append(res.Watched, WatchResult{Name: p.Name})
	}

	var (
		enq     atomic.Int64
		stop    atomic.Bool
		markMu  sync.Mutex
		wg      sync.WaitGroup
		start   = time.Now()
		cpu0    = selfCPU()
		_, _, g = newGoMem().read()
	)
	gcs0 := g
	fmt.Fprintf(cfg.Out, "ingest: %d producers for %s; counting %s every %s\n", cfg.Producers, cfg.Duration,
		names(cfg.Counters), cfg.Sample)
	for p := 0; p < cfg.Producers; p++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			gen := NewGenerator(seed)
			mem := newGoMem()
			for !stop.Load() {
				c := event.AcquireClick()
				gen.Fill(c, time.Now())
				if err := cfg.Enqueue(c); err != nil {
					cfg.Release(c)
					return
				}
				if enq.Add(1) == cfg.Mark {
					r, _ := rss("self")
					heap, _, _ := mem.read()
					pending := cfg.Pending()
					markMu.Lock()
					res.MarkAt, res.MarkRSS, res.MarkHeap, res.MarkPending = time.Since(start), r, int64(heap), pending
					markMu.Unlock()
					if cfg.AtMark != nil {
						cfg.AtMark()
					}
				}
			}
		}(uint64(start.UnixNano()) + uint64(p)*7919)
	}

	// Sampler: memory every 100 ms, destinations every Sample.
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		mem := newGoMem()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := make([]int64, len(cfg.Counters))
		lastT := time.Duration(0)
		lastEnq := int64(0)
		next := cfg.Sample
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			r, _ := rss("self")
			heap, _, _ := mem.read()
			pend := cfg.Pending()
			res.PeakRSS = max(res.PeakRSS, r)
			res.PeakHeap = max(res.PeakHeap, int64(heap))
			res.PeakPending = max(res.PeakPending, pend)
			for i, p := range cfg.Watch {
				if wr, err := rss(p.PID); err == nil {
					res.Watched[i].PeakRSS = max(res.Watched[i].PeakRSS, wr)
				}
			}
			t := time.Since(start)
			if t < next {
				continue
			}
			next += cfg.Sample
			e := enq.Load()
			dt := (t - lastT).Seconds()
			line := fmt.Sprintf("  %5.1fs enqueued %6.0f/s pending %7d rss %4d MB heap %4d MB", t.Seconds(),
				float64(e-lastEnq)/dt, pend, r>>20, heap>>20)
			for i := range cfg.Counters {
				n, err := count(i)
				if err != nil {
					line += fmt.Sprintf(" | %s: %v", cfg.Counters[i].Name, err)
					continue
				}
				rate := float64(n-last[i]) / dt
				if res.Sinks[i].MinRate < 0 || rate < res.Sinks[i].MinRate {
					res.Sinks[i].MinRate = rate
				}
				line += fmt.Sprintf(" | %s %7.0f/s", cfg.Counters[i].Name, rate)
				last[i] = n
			}
			lastT, lastEnq = t, e
			fmt.Fprintln(cfg.Out, line)
		}
	}()

	select {
	case <-time.After(cfg.Duration):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	res.Duration = time.Since(start)
	res.Enqueued = enq.Load()
	res.CPU = selfCPU() - cpu0
	for i, p := range cfg.Watch {
		if c, err := procCPU(p.PID); err == nil {
			res.Watched[i].CPU = c - watchCPU0[i]
		}
	}
	close(done)
	<-sampled
	for i := range cfg.Counters {
		n, err := count(i)
		res.Sinks[i].AtEnd, res.Sinks[i].AtEndTime, res.Sinks[i].Err = n, time.Since(start), err
	}
	_, _, g = newGoMem().read()
	res.GCs = g - gcs0

	fmt.Fprintf(cfg.Out, "ingest: load stopped after %s; draining %d pending events\n", res.Duration.Round(time.Millisecond), cfg.Pending())
	dstart := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	res.DrainErr = cfg.Stop(sctx)
	cancel()
	res.Drain = time.Since(dstart)
	for i := range cfg.Counters {
		// ClickHouse makes an insert visible when it returns; a few reads settle any lag.
		for try := 0; try < 10; try++ {
			n, err := count(i)
			res.Sinks[i].Final, res.Sinks[i].Err = n, err
			if err == nil && n >= res.Enqueued {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return res, nil
}

// generatorCost measures the generator alone, so its share of the process's CPU is known.
func generatorCost() time.Duration {
	const n = 100_000
	gen := NewGenerator(1)
	now := time.Now()
	runtime.GC()
	cpu0 := selfCPU()
	for i := 0; i < n; i++ {
		c := event.AcquireClick()
		gen.Fill(c, now)
		event.ReleaseClick(c)
	}
	return (selfCPU() - cpu0) / n
}

func names(cs []Counter) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Name)
	}
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, " and ")
}

// Report writes the result for people, then one line of key=value pairs for scripts.
func (r *Result) Report(w io.Writer, label string) {
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Fprintf(w, "\n== ingestion: %s, %d producers, %s\n", label, r.Producers, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "enqueued           %d (%.0f/s)\n", r.Enqueued, float64(r.Enqueued)/r.Duration.Seconds())
	for _, s := range r.Sinks {
		status := "all there"
		switch {
		case s.Err != nil:
			status = "count failed: " + s.Err.Error()
		case s.Final < r.Enqueued:
			status = fmt.Sprintf("MISSING %d", r.Enqueued-s.Final)
		case s.Final > r.Enqueued:
			status = fmt.Sprintf("%d duplicates (at-least-once retries)", s.Final-r.Enqueued)
		}
		fmt.Fprintf(w, "%-18s %.0f/s sustained (%d counted at %.1fs; slowest %s interval %.0f/s); after drain %d: %s\n",
			s.Name, s.Rate(), s.AtEnd, s.AtEndTime.Seconds(), "sample", s.MinRate, s.Final, status)
	}
	if r.MarkAt > 0 {
		fmt.Fprintf(w, "at event %-9d  RSS %.0f MB, Go heap %.0f MB, %d events pending in the pipeline (%.1fs in)\n",
			r.Mark, mb(r.MarkRSS), mb(r.MarkHeap), r.MarkPending, r.MarkAt.Seconds())
	} else {
		fmt.Fprintf(w, "the mark was not reached\n")
	}
	fmt.Fprintf(w, "peak               RSS %.0f MB, Go heap %.0f MB, %d events pending\n", mb(r.PeakRSS), mb(r.PeakHeap), r.PeakPending)
	perEvent := time.Duration(0)
	if r.Enqueued > 0 {
		perEvent = r.CPU / time.Duration(r.Enqueued)
	}
	fmt.Fprintf(w, "CPU                %.1f s in this process = %.2f µs per event (of which the click generator %.2f µs); %d GCs\n",
		r.CPU.Seconds(), float64(perEvent.Nanoseconds())/1000, float64(r.GenCPU.Nanoseconds())/1000, r.GCs)
	for _, p := range r.Watched {
		fmt.Fprintf(w, "%-18s CPU %.1f s (%.2f cores), peak RSS %.0f MB\n", p.Name, p.CPU.Seconds(), p.CPU.Seconds()/r.Duration.Seconds(), mb(p.PeakRSS))
	}
	drain := "ok"
	if r.DrainErr != nil {
		drain = r.DrainErr.Error()
	}
	fmt.Fprintf(w, "drain              %s (%s)\n", r.Drain.Round(time.Millisecond), drain)

	kv := fmt.Sprintf("RESULT label=%s enqueued_per_s=%.0f", label, float64(r.Enqueued)/r.Duration.Seconds())
	for _, s := range r.Sinks {
		kv += fmt.Sprintf(" %s_per_s=%.0f %s_min_per_s=%.0f %s_missing=%d", s.Name, s.Rate(), s.Name, s.MinRate, s.Name, max(0, r.Enqueued-s.Final))
	}
	kv += fmt.Sprintf(" rss_mark_mb=%.0f heap_mark_mb=%.0f pending_mark=%d rss_peak_mb=%.0f heap_peak_mb=%.0f cpu_us_per_event=%.2f gen_us_per_event=%.2f",
		mb(r.MarkRSS), mb(r.MarkHeap), r.MarkPending, mb(r.PeakRSS), mb(r.PeakHeap),
		float64(perEvent.Nanoseconds())/1000, float64(r.GenCPU.Nanoseconds())/1000)
	for _, p := range r.Watched {
		kv += fmt.Sprintf(" %s_cores=%.2f", p.Name, p.CPU.Seconds()/r.Duration.Seconds())
	}
	fmt.Fprintln(w, kv)
}
