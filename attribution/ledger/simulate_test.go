package ledger

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/attribution/simulate"
	"github.com/refedge/refedge/internal/partners"
)

// TestSimulate plays a small simulated marketplace through the ledger and checks the
// books: every line's amount is its base times its rate, rounded half up; every
// reversal repeats an accrual; the blocked partner earns nothing; no key is paid twice.
func TestSimulate(t *testing.T) {
	t.Parallel()
	e := newLedgerEnv(t)
	cfg := e.cfg
	e.start(cfg)
	prefix := uniq("sim") + "-"
	t.Cleanup(func() {
		for i := range 10 {
			e.rdb.Unlink(context.Background(), partners.Key(fmt.Sprintf("%sp%d", prefix, i)))
		}
	})
	rep, err := simulate.Run(e.ctx, simulate.Config{Brokers: e.brokers, Keys: testKeys, Seed: 7, IDPrefix: prefix,
		Partners: 10, Users: 150, Sellers: 20, Orders: 800, Days: 300,
		AfterPartners: func(context.Context) error { e.waitCaughtUp(cfg); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	e.waitCaughtUp(cfg)
	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	accrued := map[string]event.CommissionPayload{}
	var reversed []event.CommissionPayload
	for _, o := range e.readOutputs(event.TopicCommissions, sch) {
		c := *o.Comm
		if c.PartnerID == prefix+"p9" {
			t.Errorf("blocked partner earned %s", c.Key)
		}
		if c.PartnerID == prefix+"p4" {
			t.Errorf("partner with an unconfirmed email earned %s", c.Key)
		}
		if o.Type == event.TypeCommissionReversed {
			reversed = append(reversed, c)
			continue
		}
		if _, dup := accrued[c.Key]; dup {
			t.Errorf("%s accrued twice", c.Key)
		}
		accrued[c.Key] = c
		if c.Role != event.RoleMilestone && c.Amount != rules.ApplyRate(c.BaseAmount, c.RateBP, rules.RoundHalfUp) {
			t.Errorf("%s: %d × %d bp = %d", c.Key, c.BaseAmount, c.RateBP, c.Amount)
		}
	}
	// The reversals of one accrual (partial refunds: :reversal, :reversal:2, ...) add up
	// to at most the accrual, and to exactly the accrual once the whole base is refunded.
	type sum struct{ base, amount int64 }
	sums := map[string]sum{}
	for _, r := range reversed {
		a, ok := accrued[r.Reverses]
		if !ok || !strings.HasPrefix(r.Key, rules.ReversalKey(a.Key)) || r.RateBP != a.RateBP {
			t.Errorf("reversal %+v does not belong to accrual %+v", r, a)
			continue
		}
		x := sums[a.Key]
		x.base += r.BaseAmount
		x.amount += r.Amount
		sums[a.Key] = x
		if a.Role != event.RoleMilestone && x.base < a.BaseAmount && x.amount != rules.ApplyRate(x.base, a.RateBP, rules.RoundHalfUp) {
			t.Errorf("%s: %d of base %d refunded, %d reversed, want %d", r.Key, x.base, a.BaseAmount, x.amount, rules.ApplyRate(x.base, a.RateBP, rules.RoundHalfUp))
		}
	}
	for k, x := range sums {
		a := accrued[k]
		if x.base > a.BaseAmount || x.amount > a.Amount || x.base == a.BaseAmount && x.amount != a.Amount {
			t.Errorf("%s: reversals of base %d amount %d against an accrual of base %d amount %d", k, x.base, x.amount, a.BaseAmount, a.Amount)
		}
	}
	if len(accrued) < 100 || len(reversed) == 0 {
		t.Errorf("too little happened: %d accrued, %d reversed (%+v)", len(accrued), len(reversed), rep)
	}
	t.Logf("%+v: %d accrued, %d reversed", rep, len(accrued), len(reversed))
}

func TestSimulateMainFlags(t *testing.T) {
	var out, errb bytes.Buffer
	env := map[string]string{}
	code := simulate.Main([]string{"-start", "yesterday"}, func(k string) string { return env[k] }, &out, &errb)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	for _, want := range []string{"REFEDGE_KAFKA_BROKERS", "REFEDGE_SECRET", "-start"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("the error does not name %s: %s", want, errb.String())
		}
	}

	b := testBroker(t)
	out.Reset()
	errb.Reset()
	env = map[string]string{"REFEDGE_KAFKA_BROKERS": strings.Join(b.Addrs(), ","), "REFEDGE_SECRET": "ledger-test-secret-0123456789"}
	code = simulate.Main([]string{"-orders", "50", "-users", "20", "-sellers", "5", "-partners", "3", "-partner-lead", "0s",
		"-prefix", uniq("cli") + "-"}, func(k string) string { return env[k] }, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "50 orders") {
		t.Errorf("simulate: exit %d, out %q, err %q", code, out.String(), errb.String())
	}
}
