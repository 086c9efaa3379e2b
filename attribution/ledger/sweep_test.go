package ledger

import (
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// TestLedgerSweep checks that referrals nobody hears from again still detach and
// expire: the sweeper moves them when event time — other users' events — passes their
// deadlines, and stamps each event with the deadline itself.
func TestLedgerSweep(t *testing.T) {
	t.Parallel()
	e := newLedgerEnv(t)
	cfg := e.cfg
	cfg.SweepInterval, cfg.SweepLateness = 50*time.Millisecond, time.Hour
	run := uniq("w")
	p, idle, active, s := run+"-P", run+"-idle", run+"-active", run+"-S"
	e.core.Partner(p, run+"-Pu", "active", goldenT0.Add(-60*day))
	e.flush()
	e.start(cfg)
	e.waitCaughtUp(cfg)
	e.core.Register(idle, e.core.Click(p, goldenT0), "", goldenT0)
	e.core.Register(active, e.core.Click(p, goldenT0), "", goldenT0)
	e.core.Register(s, "", "", goldenT0)
	e.core.Order(run+"-O1", active, s, 10000, 0, "USD", goldenT0.Add(day))
	e.flush()
	e.waitCaughtUp(cfg)

	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(typ, user string, at time.Time) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			n := 0
			for _, o := range e.readOutputs(event.TopicAttributions, sch) {
				if o.Type == typ && o.Attr.UserID == user {
					n++
					if !o.OccurredAt.Equal(at) {
						t.Errorf("%s of %s at %s, want %s", typ, user, o.OccurredAt, at)
					}
				}
			}
			if n > 1 {
				t.Errorf("%s of %s produced %d times", typ, user, n)
			}
			if n > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s of %s", typ, user)
			}
			pollPause()
		}
	}
	// Event time moves on through someone else's signup.
	e.core.Register(run+"-later1", "", "", goldenT0.Add(200*day))
	e.flush()
	waitFor(event.TypeDetached, idle, goldenT0.Add(180*day))
	e.core.Register(run+"-later2", "", "", goldenT0.AddDate(3, 0, 2))
	e.flush()
	waitFor(event.TypeExpired, active, goldenT0.AddDate(3, 0, 0))
	for _, o := range e.readOutputs(event.TopicAttributions, sch) {
		if o.Attr.UserID == active && o.Type == event.TypeDetached || o.Attr.UserID == idle && o.Type == event.TypeExpired {
			t.Errorf("unexpected %s of %s", o.Type, o.Attr.UserID)
		}
	}
}
