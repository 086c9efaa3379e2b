package pipeline

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// nopSink takes every batch.
type nopSink struct{}

func (nopSink) Name() string                       { return "nop" }
func (nopSink) Write(context.Context, []int) error { return nil }

// BenchmarkCollect enqueues events one at a time with a little work between them (as
// request handlers do) into a pipeline with one sink that does nothing, with the
// collector pausing (collectPause) and woken by every event (pause 0), taking turns.
// cpu-ns/event is the process's CPU time per event, work included.
func BenchmarkCollect(b *testing.B) {
	for _, pause := range []time.Duration{0, time.Millisecond} {
		b.Run("pause="+pause.String(), func(b *testing.B) {
			saved := collectPause
			collectPause = pause
			defer func() { collectPause = saved }()
			p := New[int](Config{Name: "bench"}, nil, Sink[int](nopSink{}))
			defer p.Stop(context.Background())
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			x := uint64(1)
			for i := 0; b.Loop(); i++ {
				for range 2000 { // a few µs of work (about 3 on this box)
					x = x*6364136223846793005 + 1442695040888963407
				}
				if err := p.Enqueue(int(x & 1)); err != nil {
					b.Fatal(err)
				}
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/event")
		})
	}
}
