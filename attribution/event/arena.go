package event

import "unsafe"

// Str is a string stored in an event's arena: the edge copies request bytes into one
// reusable buffer per event instead of allocating a string per field.
type Str struct{ off, n uint32 }

// arena is the byte store behind an event's Str fields.
type arena struct{ b []byte }

func (a *arena) reset() { a.b = a.b[:0] }

// put copies p into the arena.
func (a *arena) put(p []byte) Str {
	s := Str{uint32(len(a.b)), uint32(len(p))}
	a.b = append(a.b, p...)
	return s
}

// puts copies s into the arena.
func (a *arena) puts(s string) Str {
	r := Str{uint32(len(a.b)), uint32(len(s))}
	a.b = append(a.b, s...)
	return r
}

// get returns s as a string aliasing the arena; valid until the event is released.
func (a *arena) get(s Str) string {
	if s.n == 0 {
		return ""
	}
	return unsafe.String(&a.b[s.off], int(s.n))
}
