package event

import "sync"

// scratch keeps one spare working buffer of a sink between writes. A sync.Pool would
// drop it at every GC, and a sink's buffers are megabytes that a busy edge collects
// several times a second: it would allocate them again each time. Writes run one at a
// time (a pipeline calls each sink from one goroutine); a concurrent one gets a fresh
// buffer.
type Scratch[T any] struct {
	mu    sync.Mutex
	spare *T
}

func (s *Scratch[T]) Get() *T {
	s.mu.Lock()
	v := s.spare
	s.spare = nil
	s.mu.Unlock()
	if v == nil {
		v = new(T)
	}
	return v
}

func (s *Scratch[T]) Put(v *T) {
	s.mu.Lock()
	s.spare = v
	s.mu.Unlock()
}
