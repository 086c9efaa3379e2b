// Package logx holds logging helpers shared by refedge's packages.
package logx

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Throttle lets a repeated warning through once per Interval for each cause, so an
// outage that makes a loop fail every 100 ms writes one line per cause per interval,
// not hundreds. The next line of a cause after a quiet spell carries "suppressed", the
// number of lines of that cause left out since the last one written. The zero value
// is ready to use.
type Throttle struct {
	// Interval between two lines of one cause; 0 means DefaultInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now (tests set it).
	Now func() time.Time

	mu     sync.Mutex
	causes map[string]*cause
}

// DefaultInterval is Throttle.Interval's default.
const DefaultInterval = 10 * time.Second

// maxCauses bounds the causes remembered; past it they are forgotten (and each logs
// once more), so a cause built from unbounded input cannot grow memory.
const maxCauses = 1024

type cause struct {
	last       time.Time
	suppressed int
}

// Warn logs msg with args at warning level on log, unless a line of the same cause was
// written less than Interval ago.
func (t *Throttle) Warn(log *slog.Logger, cause, msg string, args ...any) {
	t.Log(log, slog.LevelWarn, cause, msg, args...)
}

// Log is Warn at any level.
func (t *Throttle) Log(log *slog.Logger, level slog.Level, key, msg string, args ...any) {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	every := t.Interval
	if every <= 0 {
		every = DefaultInterval
	}
	at := now()
	t.mu.Lock()
	if t.causes == nil || len(t.causes) >= maxCauses {
		t.causes = map[string]*cause{}
	}
	c := t.causes[key]
	if c != nil && at.Sub(c.last) < every {
		c.suppressed++
		t.mu.Unlock()
		return
	}
	n := 0
	if c == nil {
		c = &cause{}
		t.causes[key] = c
	} else {
		n = c.suppressed
	}
	c.last, c.suppressed = at, 0
	t.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Log(context.Background(), level, msg, args...)
}

// Reset forgets cause: its next line is written at once (the condition behind it
// ended).
func (t *Throttle) Reset(cause string) {
	t.mu.Lock()
	delete(t.causes, cause)
	t.mu.Unlock()
}
