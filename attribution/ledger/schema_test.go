package ledger

import (
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/deploy/schemas"
)

// TestSchemaExamples validates every example under deploy/schemas against its schema,
// and checks that every event type the ledger reads or writes has both.
func TestSchemaExamples(t *testing.T) {
	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ts := range event.LedgerInputTypes {
		types = append(types, ts...)
	}
	for _, ts := range event.LedgerOutputTypes {
		types = append(types, ts...)
	}
	have := sch.Types()
	sort.Strings(types)
	sort.Strings(have)
	if strings.Join(types, " ") != strings.Join(have, " ") {
		t.Errorf("schemas %v, ledger event types %v", have, types)
	}
	examples, _ := fs.Glob(schemas.FS, "*.example.json")
	if len(examples) != len(types) {
		t.Errorf("%d examples for %d event types", len(examples), len(types))
	}
	for _, name := range examples {
		b, _ := schemas.FS.ReadFile(name)
		typ, err := sch.Validate(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if want := strings.TrimSuffix(name, ".example.json"); typ != want {
			t.Errorf("%s has type %q", name, typ)
		}
	}
}

// TestSchemasRefuse checks that the schemas catch what the ledger must dead-letter.
func TestSchemasRefuse(t *testing.T) {
	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	env := func(typ, payload string) string {
		return `{"id":"0196f0a0-0000-7000-8000-000000000001","type":"` + typ + `","version":1,"occurred_at":"2026-01-01T00:00:00Z","payload":` + payload + `}`
	}
	order := `{"order_id":"o","buyer_id":"b","seller_id":"s","amount_main":100,"amount_bonus":0,"currency":"USD"}`
	f := func(doc, want string) {
		t.Helper()
		_, err := sch.Validate([]byte(doc))
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Validate(%s) = %v, want %q", doc, err, want)
		}
	}
	f(env("order.completed", order), "")
	f(env("order.completed", strings.Replace(order, `"amount_main":100`, `"amount_main":-1`, 1)), "/payload/amount_main")
	f(env("order.completed", strings.Replace(order, `"amount_main":100`, `"amount_main":1.5`, 1)), "/payload/amount_main")
	f(env("order.completed", strings.Replace(order, `"USD"`, `"usd"`, 1)), "/payload/currency")
	f(env("order.completed", strings.Replace(order, `"buyer_id":"b",`, ``, 1)), "buyer_id")
	f(env("order.completed", strings.Replace(order, `"o"`, `"o{1}"`, 1)), "/payload/order_id")
	f(env("order.completed", strings.Replace(order, `}`, `,"coupon":"X"}`, 1)), "") // unknown fields are ignored
	f(strings.Replace(env("order.completed", order), `"version":1`, `"version":2`, 1), "/version")
	f(strings.Replace(env("order.completed", order), `2026-01-01T00:00:00Z`, `yesterday`, 1), "/occurred_at")
	f(strings.Replace(env("order.completed", order), `0196f0a0-0000-7000-8000-000000000001`, `42`, 1), "/id")
	f(env("order.shipped", order), "unknown event type")
	f(`[1,2]`, "not a JSON object")
	f(`{"id":`, "invalid JSON")
	f(env("user.registered", `{"user_id":"u"}`), "attribution")
	f(env("partner.upserted", `{"partner_id":"p 1","status":"active"}`), "/payload/partner_id")
	f(env("partner.upserted", `{"partner_id":"p1","status":"paused"}`), "/payload/status")
}

// TestProducedEventsConform checks encodeLedgerEvent's output for every output type
// against the schemas (the golden tests check what the running ledger produces too).
func TestProducedEventsConform(t *testing.T) {
	sch, err := LoadEventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	act := at.Add(24 * time.Hour)
	attr := event.AttributionPayload{UserID: "u-1", PartnerID: "p1", ClickID: "c", RegisteredAt: at,
		ActivationDeadline: at.AddDate(0, 0, 180), ExpiresAt: at.AddDate(3, 0, 0)}
	comm := event.CommissionPayload{Key: "order:o-1:buyer", PartnerID: "p1", ReferralUserID: "u-1", OrderID: "o-1", Role: event.RoleBuyer,
		BaseAmount: 1000, RateBP: 350, Amount: 35, Currency: "USD", Program: "revenue_share"}
	rev := comm
	rev.Key, rev.Reverses = comm.Key+":reversal", comm.Key
	cases := []struct {
		typ     string
		payload any
	}{
		{event.TypeAttributed, func() any { p := attr; p.State = event.StatePending; return p }()},
		{event.TypeActivated, func() any { p := attr; p.State, p.ActivatedAt, p.Cause = event.StateActive, &act, "order"; return p }()},
		{event.TypeDetached, func() any { p := attr; p.State = event.StateDetached; return p }()},
		{event.TypeExpired, func() any { p := attr; p.State, p.ActivatedAt, p.Cause = event.StateExpired, &act, "kwork"; return p }()},
		{event.TypeCommissionAccrued, comm},
		{event.TypeCommissionReversed, rev},
	}
	for _, c := range cases {
		b, err := event.EncodeLedgerEvent(event.LedgerEventID(c.typ, "x"), c.typ, at, c.payload)
		if err != nil {
			t.Fatal(err)
		}
		if typ, err := sch.Validate(b); err != nil || typ != c.typ {
			t.Errorf("%s: %v\n%s", c.typ, err, b)
		}
	}
	// The reversal key pattern refuses an accrual key, and the other way round.
	b, _ := event.EncodeLedgerEvent(event.LedgerEventID(event.TypeCommissionReversed, "y"), event.TypeCommissionReversed, at, comm)
	if _, err := sch.Validate(b); err == nil {
		t.Error("a reversal without :reversal and reverses validates")
	}
}

func TestLedgerEventIDIsStable(t *testing.T) {
	a := event.LedgerEventID(event.TypeCommissionAccrued, "accrued|order:1:buyer")
	if a != event.LedgerEventID(event.TypeCommissionAccrued, "accrued|order:1:buyer") {
		t.Error("event id is not deterministic")
	}
	if a == event.LedgerEventID(event.TypeCommissionReversed, "accrued|order:1:buyer") || a == event.LedgerEventID(event.TypeCommissionAccrued, "accrued|order:1:seller") {
		t.Error("event ids collide")
	}
	if len(a) != 36 || a[14] != '8' || !slices.Contains([]byte("89ab"), a[19]) {
		t.Errorf("event id %s is not a version 8 UUID", a)
	}
}
