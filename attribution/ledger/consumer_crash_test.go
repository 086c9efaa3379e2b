package ledger

import (
	"bytes"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
)

// TestLedgerCrashRestart kills an orders consumer mid-stream — its handler stops at a
// chosen stage of a chosen batch and the readers are closed without committing that
// batch, as when the process dies — then starts a new service on the same group and
// ledger. Every
// commission must be there exactly once: no loss, no second payout.
//
// Stages: "effects" (Redis changed, nothing produced), "produced" (Kafka acknowledged
// the events, the outbox still holds them: the restart must find them on the topic and
// not produce them again), "acked" (outbox cleared, offsets not committed).
func TestLedgerCrashRestart(t *testing.T) {
	for _, stage := range []string{"effects", "produced", "acked"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			crashRestart(t, stage)
		})
	}
}

func crashRestart(t *testing.T, stage string) {
	e := newLedgerEnv(t)
	cfg := e.cfg
	cfg.MaxBatch = 16
	run := uniq("c")
	id := func(f string, a ...any) string { return run + "-" + fmt.Sprintf(f, a...) }

	// Phase 0: partners. Phase 1: referred buyers and sellers, sellers activated.
	const partnersN, buyersN, sellersN, ordersN = 4, 24, 8, 160
	e.seedReferrals(t, cfg, id, partnersN, buyersN, sellersN)

	// Phase 2: the stream the consumer dies in: orders, every tenth refunded.
	want := map[string]int64{}
	for o := 0; o < ordersN; o++ {
		at := goldenT0.Add(day + time.Duration(o)*time.Minute)
		b, s, main := id("b%d", o%buyersN), id("s%d", o%sellersN), int64(1000+o*7)
		e.core.Order(id("o%d", o), b, s, main, 0, "USD", at)
		want[rules.OrderKey(id("o%d", o), event.RoleBuyer)] = rules.ApplyRate(main, 350, rules.RoundHalfUp)
		want[rules.OrderKey(id("o%d", o), event.RoleSeller)] = rules.ApplyRate(main, 250, rules.RoundHalfUp)
		if o%10 == 3 {
			e.core.Refund(id("o%d", o), b, at.Add(time.Hour))
			want[rules.ReversalKey(rules.OrderKey(id("o%d", o), event.RoleBuyer))] = rules.ApplyRate(main, 350, rules.RoundHalfUp)
			want[rules.ReversalKey(rules.OrderKey(id("o%d", o), event.RoleSeller))] = rules.ApplyRate(main, 250, rules.RoundHalfUp)
		}
	}
	e.flush()

	recovered := counterValue(ledgerRecovered)
	crashing, err := New(cfg, e.rdb, nil, "", e.brokers, testKeys, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	var batches atomic.Int32
	crashing.l.hook = func(kind, s string) error {
		if kind != kindOrders || s != stage {
			return nil
		}
		if batches.Add(1) == 4 { // mid-stream: three batches went through
			return errCrash
		}
		return nil
	}
	if err := crashing.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var crashed *consumer
	for crashed == nil {
		for _, c := range crashing.consumersOf(kindOrders) {
			if c.exited.Load() {
				crashed = c
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no orders consumer reached its crash")
		}
		pollPause()
	}
	if !bytes.Contains([]byte(fmt.Sprint(crashed.err)), []byte(errCrash.Error())) {
		t.Fatalf("orders consumer stopped with %v, want the simulated crash", crashed.err)
	}
	if err := crashing.Stop(e.ctx); err != nil {
		t.Fatal(err)
	}

	e.start(cfg)
	e.waitCaughtUp(cfg)

	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	first2 := map[string][]byte{}
	dups := 0
	for _, o := range e.readOutputs(event.TopicCommissions, sch) {
		k := o.Comm.Key
		if prev, ok := first2[k]; ok {
			dups++
			t.Errorf("commission %s produced twice after a crash at %q:\n%s\n%s", k, stage, prev, o.Raw)
			continue
		}
		first2[k] = o.Raw
		got[k] = o.Comm.Amount
	}
	var missing, extra []string
	for k, a := range want {
		if g, ok := got[k]; !ok {
			missing = append(missing, k)
		} else if g != a {
			t.Errorf("commission %s: amount %d, want %d", k, g, a)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("after the crash at %q: %d missing %v, %d unexpected %v", stage, len(missing), missing, len(extra), extra)
	}
	if stage == "produced" && counterValue(ledgerRecovered) == recovered {
		t.Error("the restart did not find the events the crashed attempt had produced")
	}
	t.Logf("crash at %q after 3 batches: %d commissions, %d duplicates", stage, len(got), dups)
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
