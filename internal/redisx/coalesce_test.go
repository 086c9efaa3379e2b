package redisx

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type call struct {
	in, out int
}

// Calls made while a batch is in flight wait, and go out together in the next batch;
// every caller gets its own answer.
func TestCoalescerBatchesWaitingCalls(t *testing.T) {
	release := make(chan struct{})
	var batches [][]int
	var mu sync.Mutex
	c := &Coalescer[*call]{MaxInFlight: 1, MaxBatch: 5}
	c.Run = func(b []*call) {
		if len(batches) == 0 {
			<-release // hold the first batch until the others wait
		}
		mu.Lock()
		var ins []int
		for _, x := range b {
			x.out = x.in * 10
			ins = append(ins, x.in)
		}
		batches = append(batches, ins)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	results := make([]int, 13)
	do := func(i int) {
		defer wg.Done()
		x := &call{in: i}
		c.Do(x)
		results[i] = x.out
	}
	wg.Add(1)
	go do(0)
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.inFlight == 1 })
	for i := 1; i < 13; i++ {
		wg.Add(1)
		go do(i)
	}
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.waiting) == 12 })
	close(release)
	wg.Wait()

	for i, r := range results {
		if r != i*10 {
			t.Fatalf("call %d answered %d, want %d", i, r, i*10)
		}
	}
	sizes := []int{}
	for _, b := range batches {
		sizes = append(sizes, len(b))
	}
	// One alone, then the twelve waiting in batches of at most MaxBatch.
	if want := []int{1, 5, 5, 2}; !slices.Equal(sizes, want) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	if c.inFlight != 0 || len(c.waiting) != 0 {
		t.Fatalf("after the calls: %d in flight, %d waiting", c.inFlight, len(c.waiting))
	}
}

// Under concurrent load no more than MaxInFlight batches run at once and no call is lost.
func TestCoalescerBoundsBatchesInFlight(t *testing.T) {
	var running, peak, calls atomic.Int64
	c := &Coalescer[*call]{MaxInFlight: 3, MaxBatch: 8}
	c.Run = func(b []*call) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if len(b) > 8 {
			t.Errorf("batch of %d", len(b))
		}
		for _, x := range b {
			x.out = x.in + 1
		}
		calls.Add(int64(len(b)))
		running.Add(-1)
	}
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				x := &call{in: g*1000 + i}
				c.Do(x)
				if x.out != x.in+1 {
					t.Errorf("call %d answered %d", x.in, x.out)
					return
				}
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 32*200 {
		t.Fatalf("%d calls ran, want %d", calls.Load(), 32*200)
	}
	if peak.Load() > 3 {
		t.Fatalf("%d batches in flight at once, limit 3", peak.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
