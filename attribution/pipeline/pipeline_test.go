package pipeline

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// recordSink is a Sink that keeps what it was given and can be told to fail.
type recordSink struct {
	mu      sync.Mutex
	got     []int
	failFor atomic.Int32 // number of Write calls to fail
}

func (s *recordSink) Name() string { return "record" }

func (s *recordSink) Write(_ context.Context, b []int) error {
	if s.failFor.Add(-1) >= 0 {
		return errors.New("induced failure")
	}
	s.mu.Lock()
	s.got = append(s.got, b...)
	s.mu.Unlock()
	return nil
}

func (s *recordSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func TestPipelineDeliversEverythingOnStop(t *testing.T) {
	a, b := &recordSink{}, &recordSink{}
	b.failFor.Store(3)
	var released atomic.Int64
	p := New[int](Config{Name: "test", BatchSize: 7, FlushInterval: time.Hour, RetryMin: time.Millisecond, QueueSize: 16},
		func(int) { released.Add(1) }, a, b)
	const n = 1000
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				if err := p.Enqueue(i); err != nil {
					t.Errorf("Enqueue(%d): %v", i, err)
				}
			}
		}(w)
	}
	wg.Wait()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, s := range []*recordSink{a, b} {
		seen := make(map[int]bool, n)
		for _, v := range s.got {
			seen[v] = true
		}
		if len(seen) != n {
			t.Fatalf("sink got %d distinct events, want %d", len(seen), n)
		}
	}
	if released.Load() != n || p.Len() != 0 {
		t.Fatalf("released %d, pending %d; want %d and 0", released.Load(), p.Len(), n)
	}
	if err := p.Enqueue(1); !errors.Is(err, ErrStopped) {
		t.Fatalf("Enqueue after Stop = %v, want ErrStopped", err)
	}
}

func TestPipelineFlushesByAge(t *testing.T) {
	s := &recordSink{}
	p := New[int](Config{BatchSize: 1000, FlushInterval: 10 * time.Millisecond}, nil, s)
	defer p.Stop(context.Background())
	_ = p.Enqueue(1)
	deadline := time.Now().Add(5 * time.Second)
	for s.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a lone event was not flushed by age")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPipelineStopGivesUpAtDeadline(t *testing.T) {
	s := &recordSink{}
	s.failFor.Store(1 << 30)
	p := New[int](Config{RetryMin: time.Millisecond, RetryMax: time.Millisecond}, nil, s)
	_ = p.Enqueue(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop with a sink that never succeeds = %v, want deadline exceeded", err)
	}
}

// TestPipelineReportsItsCapacity: refedge_events_capacity, which the backlog alert
// divides by, is the config's memory bound, defaults filled in.
func TestPipelineReportsItsCapacity(t *testing.T) {
	cfg := Config{Name: "capacity-test", QueueSize: 1000, BatchSize: 300, SinkQueue: 2}
	if got := cfg.MemoryBound(); got != 1000+4*300 {
		t.Fatalf("MemoryBound %d, want %d", got, 1000+4*300)
	}
	if got, want := (Config{}).MemoryBound(), 32768+3*20000; got != want {
		t.Fatalf("default MemoryBound %d, want %d", got, want)
	}
	p := New(cfg, nil, Sink[int](&recordSink{}))
	defer p.Stop(context.Background())
	var m dto.Metric
	if err := pipelineCapacity.WithLabelValues("capacity-test").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetGauge().GetValue(); got != 2200 {
		t.Fatalf("refedge_events_capacity %v, want 2200", got)
	}
}

// The REFEDGE_EVENT_* variables: each bad value is refused with a message naming the
// variable and not echoing the value; the defaults are the package's.
func TestConfigLoadEnv(t *testing.T) {
	for _, kv := range [][2]string{
		{"REFEDGE_EVENT_BATCH_SIZE", "99"}, {"REFEDGE_EVENT_BATCH_SIZE", "1000001"},
		{"REFEDGE_EVENT_QUEUE_SIZE", "1023"}, {"REFEDGE_EVENT_QUEUE_SIZE", "lots"},
		{"REFEDGE_EVENT_FLUSH_INTERVAL", "9ms"}, {"REFEDGE_EVENT_FLUSH_INTERVAL", "2m"}, {"REFEDGE_EVENT_FLUSH_INTERVAL", "1000"},
	} {
		c := NewDefaultConfig()
		err := c.LoadEnv(func(k string) string {
			if k == kv[0] {
				return kv[1]
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), kv[0]) || len(kv[1]) > 3 && strings.Contains(err.Error(), kv[1]) {
			t.Errorf("%s=%q: %v", kv[0], kv[1], err)
		}
	}
	c := NewDefaultConfig()
	if err := c.LoadEnv(func(string) string { return "" }); err != nil || c != NewDefaultConfig() {
		t.Errorf("defaults: %+v %v", c, err)
	}
	if err := c.LoadEnv(func(k string) string {
		return map[string]string{"REFEDGE_EVENT_BATCH_SIZE": "500", "REFEDGE_EVENT_FLUSH_INTERVAL": "250ms"}[k]
	}); err != nil ||
		c.BatchSize != 500 || c.FlushInterval != 250*time.Millisecond || c.QueueSize != 32768 {
		t.Errorf("set: %+v %v", c, err)
	}
}

// batchSink counts the batches and events it is given.
type batchSink struct{ batches, events atomic.Int64 }

func (s *batchSink) Name() string { return "batches" }
func (s *batchSink) Write(_ context.Context, b []int) error {
	s.batches.Add(1)
	s.events.Add(int64(len(b)))
	return nil
}

// TestPipelineBusyCollector: while events keep arriving (the collector takes them a
// pause at a time) batches are still cut by age and by size, and Stop delivers the
// events of the last pause.
func TestPipelineBusyCollector(t *testing.T) {
	s := &batchSink{}
	p := New[int](Config{BatchSize: 1 << 20, FlushInterval: 20 * time.Millisecond, QueueSize: 64}, nil, s)
	n := 0
	deadline := time.Now().Add(10 * time.Second)
	for s.batches.Load() < 3 { // flushed by age at least three times while busy
		if time.Now().After(deadline) {
			t.Fatalf("%d batches after %d events in 10 s: not flushed by age while busy", s.batches.Load(), n)
		}
		for range 10 {
			if err := p.Enqueue(n); err != nil {
				t.Fatal(err)
			}
			n++
		}
		time.Sleep(50 * time.Microsecond) // pacing the producer, not synchronising
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := s.events.Load(); got != int64(n) {
		t.Fatalf("sink got %d events, want %d", got, n)
	}

	// By size: a queue much smaller than what arrives in a pause, batches of 100.
	s = &batchSink{}
	p = New[int](Config{BatchSize: 100, FlushInterval: time.Hour, QueueSize: 8}, nil, s)
	for i := range 1000 {
		if err := p.Enqueue(i); err != nil {
			t.Fatal(err)
		}
	}
	deadline = time.Now().Add(10 * time.Second)
	for s.events.Load() < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("sink got %d of 1000 events in batches of 100 before Stop", s.events.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if b := s.batches.Load(); b != 10 {
		t.Fatalf("%d batches, want 10 of 100", b)
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
