package redisx

import "sync"

// Coalescer runs the Redis work of concurrent callers in shared round trips, the idea of
// rueidis' auto-pipelining: a caller that finds fewer than MaxInFlight batches in flight
// sends its own work at once, together with whatever other calls are waiting; a caller
// that finds them all busy waits, and the first finished batch hands the next one to it.
// At low load a batch is one call and nothing waits; under load many calls share one
// pipeline, which saves Redis and this process a system call pair and a wake-up each.
//
// There are no background goroutines: a batch is always sent by one of its own callers,
// so a Coalescer needs no start or stop. It must not be copied after first use.
type Coalescer[T any] struct {
	// Run sends one batch and stores each call's answer in the call. It must not keep
	// the slice.
	Run func(batch []T)
	// MaxBatch bounds the calls in one batch; 0 means 128.
	MaxBatch int
	// MaxInFlight bounds the batches being sent at once; 0 means 2.
	MaxInFlight int

	mu       sync.Mutex
	waiting  []*waiter[T]
	inFlight int
	waiters  sync.Pool // *waiter[T]
	batches  sync.Pool // *batch[T]
}

type waiter[T any] struct {
	v T
	// lead receives false when the call's batch has run, true when the caller must
	// send the next batch (its own call first).
	lead chan bool
}

type batch[T any] struct {
	waiters []*waiter[T]
	vals    []T
}

// Do runs v in a batch and returns when the batch has run.
func (c *Coalescer[T]) Do(v T) {
	w, _ := c.waiters.Get().(*waiter[T])
	if w == nil {
		w = &waiter[T]{lead: make(chan bool, 1)}
	}
	w.v = v
	limit := c.MaxInFlight
	if limit <= 0 {
		limit = 2
	}
	c.mu.Lock()
	if c.inFlight < limit {
		c.inFlight++
		c.mu.Unlock()
		c.send(w)
	} else {
		c.waiting = append(c.waiting, w)
		c.mu.Unlock()
		if <-w.lead {
			c.send(w)
		}
	}
	var zero T
	w.v = zero
	c.waiters.Put(w)
}

// send runs a batch of first and the calls waiting, then hands the next batch to the
// oldest waiting caller, or gives up its in-flight slot when nobody waits.
func (c *Coalescer[T]) send(first *waiter[T]) {
	limit := c.MaxBatch
	if limit <= 0 {
		limit = 128
	}
	b, _ := c.batches.Get().(*batch[T])
	if b == nil {
		b = &batch[T]{}
	}
	b.waiters = append(b.waiters[:0], first)
	c.mu.Lock()
	n := min(len(c.waiting), limit-1)
	b.waiters = append(b.waiters, c.waiting[:n]...)
	c.shift(n)
	c.mu.Unlock()

	b.vals = b.vals[:0]
	for _, w := range b.waiters {
		b.vals = append(b.vals, w.v)
	}
	c.Run(b.vals)
	for _, w := range b.waiters[1:] {
		w.lead <- false
	}
	clear(b.waiters)
	clear(b.vals)
	c.batches.Put(b)

	c.mu.Lock()
	if len(c.waiting) == 0 {
		c.inFlight--
		c.mu.Unlock()
		return
	}
	next := c.waiting[0]
	c.shift(1)
	c.mu.Unlock()
	next.lead <- true
}

// shift drops the first n waiting calls. c.mu must be held.
func (c *Coalescer[T]) shift(n int) {
	rest := copy(c.waiting, c.waiting[n:])
	clear(c.waiting[rest:])
	c.waiting = c.waiting[:rest]
}
