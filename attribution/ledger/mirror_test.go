package ledger

import (
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/testenv"
)

// TestConversionsMirror checks that the ledger's output reaches ClickHouse 18.16's
// conversions table, reversals negative, so a partner's rows sum to what they net.
func TestConversionsMirror(t *testing.T) {
	t.Parallel()
	conn, db := testenv.ClickHouse(t)
	e := newLedgerEnv(t)
	if err := sink.Migrate(e.ctx, conn, db, testLog(t)); err != nil {
		t.Fatal(err)
	}
	cfg := e.cfg
	cfg.MirrorWait = 50 * time.Millisecond
	run := uniq("m")
	p1, p2, b, s := run+"-P1", run+"-P2", run+"-B", run+"-S"
	e.core.Partner(p1, run+"-P1u", "active", goldenT0.Add(-day))
	e.core.Partner(p2, run+"-P2u", "active", goldenT0.Add(-day))
	e.flush()
	e.startMirrored(cfg, conn, db)
	e.waitCaughtUp(cfg)
	e.core.Register(b, e.core.Click(p1, goldenT0), "", goldenT0)
	e.core.Register(s, e.core.Click(p2, goldenT0), "", goldenT0)
	e.core.Moderate(run+"-K", s, true, goldenT0.Add(time.Hour))
	e.core.Order(run+"-O1", b, s, 40000, 0, "USD", goldenT0.Add(day))
	e.core.Order(run+"-O2", b, s, 20000, 0, "USD", goldenT0.Add(2*day))
	e.core.Refund(run+"-O2", b, goldenT0.Add(3*day))
	e.flush()
	e.waitCaughtUp(cfg)

	// 2 attributed, 2 activated, 4 accrued, 2 reversed.
	type row struct {
		Type    string
		Partner string
		Rows    uint64
		Amount  int64
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]row{}
		rows, err := conn.Query(e.ctx, "SELECT type, partner_id, count(DISTINCT event_id), sum(amount) FROM "+db+
			".conversions WHERE partner_id IN (?, ?) GROUP BY type, partner_id", p1, p2)
		if err != nil {
			t.Fatal(err)
		}
		n := uint64(0)
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.Type, &r.Partner, &r.Rows, &r.Amount); err != nil {
				t.Fatal(err)
			}
			got[r.Type+" "+r.Partner] = r
			n += r.Rows
		}
		rows.Close()
		if n == 10 {
			want := map[string]row{
				event.TypeAttributed + " " + p1: {event.TypeAttributed, p1, 1, 0}, event.TypeAttributed + " " + p2: {event.TypeAttributed, p2, 1, 0},
				event.TypeActivated + " " + p1: {event.TypeActivated, p1, 1, 0}, event.TypeActivated + " " + p2: {event.TypeActivated, p2, 1, 0},
				event.TypeCommissionAccrued + " " + p1:  {event.TypeCommissionAccrued, p1, 2, 1400 + 700},
				event.TypeCommissionAccrued + " " + p2:  {event.TypeCommissionAccrued, p2, 2, 1000 + 500},
				event.TypeCommissionReversed + " " + p1: {event.TypeCommissionReversed, p1, 1, -700},
				event.TypeCommissionReversed + " " + p2: {event.TypeCommissionReversed, p2, 1, -500},
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s: got %+v, want %+v", k, got[k], w)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("conversions hold %d of 10 events: %+v", n, got)
		}
		pollPause()
	}
}
