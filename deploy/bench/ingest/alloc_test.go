//go:build !race

package ingest

import (
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// The generator must not allocate, or its garbage would count against the pipeline.
func TestGeneratorDoesNotAllocate(t *testing.T) {
	g := NewGenerator(2)
	now := time.Now()
	c := event.AcquireClick()
	g.Fill(c, now) // grow the click's buffers once
	event.ReleaseClick(c)
	allocs := testing.AllocsPerRun(1000, func() {
		c := event.AcquireClick()
		g.Fill(c, now)
		event.ReleaseClick(c)
	})
	if allocs > 0.1 { // sync.Pool may allocate when a GC empties it
		t.Errorf("%.2f allocations per click", allocs)
	}
}
