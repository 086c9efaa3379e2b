package banners

import (
	"testing"
	"time"
)

func TestDedup(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	d := newDedup(time.Hour, 3)
	f := func(key uint64, at time.Duration, want bool) {
		t.Helper()
		if got := d.seen(key, t0.Add(at)); got != want {
			t.Fatalf("seen(%d, +%v) = %v, want %v", key, at, got, want)
		}
	}
	f(1, 0, false)
	f(1, time.Minute, true)
	f(2, time.Minute, false)
	f(1, 59*time.Minute, true)
	// Rotation at one window: the previous generation still answers.
	f(1, 61*time.Minute, true)
	f(2, 90*time.Minute, true)
	// Two windows after its last recording a key is forgotten.
	f(1, 122*time.Minute, false)
	// A long silence forgets everything.
	f(1, 10*time.Hour, false)
	f(2, 10*time.Hour, false)
	// A full set rotates early instead of growing: memory stays bounded.
	f(3, 10*time.Hour, false)
	f(4, 10*time.Hour, false) // cur holds 1, 2, 3: full, rotates
	if len(d.cur) > 3 || len(d.prev) > 3 {
		t.Fatalf("dedup grew past its bound: %d + %d", len(d.cur), len(d.prev))
	}
	f(1, 10*time.Hour, true) // still in the previous generation
}
