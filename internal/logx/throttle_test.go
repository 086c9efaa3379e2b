package logx

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestThrottle(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := Throttle{Interval: 10 * time.Second, Now: func() time.Time { return now }}

	// A 10-second outage, one failure every 100 ms from each of two causes.
	for i := 0; i < 100; i++ {
		th.Warn(log, "fetch:orders", "cannot fetch from Kafka; will retry", "consumer", "orders")
		th.Warn(log, "fetch:users", "cannot fetch from Kafka; will retry", "consumer", "users")
		now = now.Add(100 * time.Millisecond)
	}
	th.Warn(log, "fetch:orders", "cannot fetch from Kafka; will retry", "consumer", "orders")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3 (one per cause, then the orders cause again after 10 s):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "consumer=orders") || strings.Contains(lines[0], "suppressed") ||
		!strings.Contains(lines[1], "consumer=users") {
		t.Errorf("first lines: %q", lines[:2])
	}
	if !strings.Contains(lines[2], "consumer=orders") || !strings.Contains(lines[2], "suppressed=99") {
		t.Errorf("the line after the interval must count what was left out: %q", lines[2])
	}
}

func TestThrottleBoundsCauses(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var th Throttle
	for i := 0; i < 3*maxCauses; i++ {
		th.Warn(log, strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String(), "m")
	}
	th.mu.Lock()
	n := len(th.causes)
	th.mu.Unlock()
	if n > maxCauses {
		t.Errorf("%d causes remembered, want at most %d", n, maxCauses)
	}
}
