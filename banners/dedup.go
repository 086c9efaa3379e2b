package banners

import "time"

// dedup remembers which visitor saw which banner recently, in process memory.
//
// Two generations of a set: a key is looked up in both and added to the current one;
// when the current one is a window old (or holds max keys) it becomes the previous one
// and the old previous one is cleared for reuse. A key is therefore remembered for at
// least one window and at most two, and memory stays bounded whatever the traffic:
// under a flood the window shortens (counted) instead of the process growing.
//
// Not safe for concurrent use: one goroutine (the impression worker) owns it.
type dedup struct {
	window  time.Duration
	max     int
	cur     map[uint64]struct{}
	prev    map[uint64]struct{}
	rotated time.Time
}

func newDedup(window time.Duration, max int) *dedup {
	return &dedup{window: window, max: max, cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}}
}

// seen reports whether key was seen within the window before now, and records it.
func (d *dedup) seen(key uint64, now time.Time) bool {
	switch age := now.Sub(d.rotated); {
	case age >= 2*d.window:
		clear(d.prev)
		clear(d.cur)
		d.rotated = now
	case age >= d.window || len(d.cur) >= d.max:
		if age < d.window {
			dedupEarly.Inc()
		}
		d.prev, d.cur = d.cur, d.prev
		clear(d.cur)
		d.rotated = now
	}
	if _, ok := d.cur[key]; ok {
		return true
	}
	if _, ok := d.prev[key]; ok {
		return true
	}
	d.cur[key] = struct{}{}
	return false
}
