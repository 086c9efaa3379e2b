package tracker

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/testenv"
)

// redisEdge is an edge over real Redis with partners "12345" (active) and "666" (blocked).
func redisEdge(t *testing.T, q Quality) (*Edge, *memQueue, *partners.Registry) {
	t.Helper()
	rdb := testenv.Redis(t)
	reg := &partners.Registry{Redis: rdb}
	ctx := context.Background()
	for id, st := range map[string]partners.Status{"12345": partners.Active, "666": partners.Blocked} {
		if err := reg.Upsert(ctx, partners.Partner{ID: id, Status: st, EmailConfirmed: true}); err != nil {
			t.Fatal(err)
		}
	}
	mq := &memQueue{}
	st := &RedisState{Redis: rdb, Quality: q}
	e, err := NewEdge(Config{Origin: testOrigin, Keys: newTestEdge(t, memState(), mq).cfg.Keys, Quality: q}, st, mq, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, mq, reg
}

// doFrom is do with a chosen client address.
func doFrom(e *Edge, ip net.IP, uri string, hdr ...string) {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetMethod("GET")
	for _, list := range [][]string{browserHeaders, hdr} {
		for i := 0; i+1 < len(list); i += 2 {
			req.Header.Set(list[i], list[i+1])
		}
	}
	ctx.Init(&req, &net.TCPAddr{IP: ip, Port: 1234}, nil)
	e.Handler(Routes{})(&ctx)
}

func verdicts(q *memQueue) []event.Verdict {
	out := make([]event.Verdict, len(q.clicks))
	for i, c := range q.clicks {
		out[i] = c.Verdict
	}
	return out
}

func TestDuplicateWindow(t *testing.T) {
	e, q, _ := redisEdge(t, Quality{DuplicateWindow: time.Hour})
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return now }
	vid := "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA"
	ip := net.IPv4(198, 51, 100, 1)
	doFrom(e, ip, "http://r.example/a?ref=12345", "Cookie", vid)
	doFrom(e, ip, "http://r.example/b?ref=12345", "Cookie", vid) // same visitor, same partner
	doFrom(e, ip, "http://r.example/b?ref=666", "Cookie", vid)   // other partner: not a duplicate
	doFrom(e, ip, "http://r.example/c?ref=12345", "Cookie", "rfe_vid=BBBBBBBBBBBBBBBBBBBBBB")
	// Without a cookie the visitor is its IP+UA hash: two cookie-less clicks are one visitor.
	doFrom(e, net.IPv4(198, 51, 100, 2), "http://r.example/d?ref=12345")
	doFrom(e, net.IPv4(198, 51, 100, 2), "http://r.example/d?ref=12345")
	want := []event.Verdict{event.Valid, event.Duplicate, event.BlockedPartner,
		event.Valid, event.Valid, event.Duplicate}
	if got := verdicts(q); !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	if !q.clicks[1].HasReason("dup:visitor-partner") {
		t.Fatalf("reasons %v", q.clicks[1].Reasons())
	}
}

func TestRateLimits(t *testing.T) {
	e, q, _ := redisEdge(t, Quality{IPRate: 6, IPBurst: 3, VisitorRate: 60, VisitorBurst: 60, DuplicateWindow: time.Millisecond})
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return now }
	ip := net.IPv4(198, 51, 100, 3)
	for i := 0; i < 5; i++ {
		now = now.Add(time.Millisecond) // past the duplicate window, well within the rate
		doFrom(e, ip, "http://r.example/?ref=12345", "Cookie", "rfe_vid=CCCCCCCCCCCCCCCCCCCCC"+string(rune('a'+i)))
	}
	// IPBurst 3 in 30 s (60s/6*3): refused clicks count too, so ten seconds later the
	// sliding estimate is still over; two spans later the address starts afresh.
	now = now.Add(10 * time.Second)
	doFrom(e, ip, "http://r.example/?ref=12345", "Cookie", "rfe_vid=CCCCCCCCCCCCCCCCCCCCCy")
	now = now.Add(60 * time.Second)
	doFrom(e, ip, "http://r.example/?ref=12345", "Cookie", "rfe_vid=CCCCCCCCCCCCCCCCCCCCCz")
	want := []event.Verdict{event.Valid, event.Valid, event.Valid,
		event.RateLimited, event.RateLimited, event.RateLimited, event.Valid}
	if got := verdicts(q); !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	if !q.clicks[3].HasReason("rate:ip") {
		t.Fatalf("reasons %v", q.clicks[3].Reasons())
	}
}

// The limiter's estimate weights the previous window by the share of it the sliding
// span still covers.
func TestRateLimitSlidingEstimate(t *testing.T) {
	e, q, _ := redisEdge(t, Quality{IPRate: 4, IPBurst: 4, VisitorRate: 60, VisitorBurst: 60, DuplicateWindow: time.Millisecond})
	// Spans are aligned to the Unix epoch: 10:00:54 is 90% into a one-minute window.
	now := time.Date(2026, 11, 21, 10, 0, 54, 0, time.UTC)
	e.Now = func() time.Time { return now }
	ip := net.IPv4(198, 51, 100, 5)
	click := func(i int) {
		now = now.Add(time.Millisecond)
		doFrom(e, ip, "http://r.example/?ref=12345", "Cookie", "rfe_vid=EEEEEEEEEEEEEEEEEEEEE"+string(rune('a'+i)))
	}
	for i := 0; i < 4; i++ {
		click(i)
	}
	// Half into the next window: 4 x 0.5 from before, so two more fit and the third not.
	now = time.Date(2026, 11, 21, 10, 1, 30, 0, time.UTC)
	for i := 4; i < 7; i++ {
		click(i)
	}
	want := []event.Verdict{event.Valid, event.Valid, event.Valid, event.Valid,
		event.Valid, event.Valid, event.RateLimited}
	if got := verdicts(q); !slices.Equal(got, want) {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
}

func TestPartnerCapOffByDefault(t *testing.T) {
	e, q, _ := redisEdge(t, Quality{DuplicateWindow: time.Millisecond})
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	e.Now = func() time.Time { return now }
	for i := 0; i < 50; i++ {
		doFrom(e, net.IPv4(198, 51, 100, byte(10+i)), "http://r.example/?ref=12345")
	}
	for _, v := range verdicts(q) {
		if v != event.Valid {
			t.Fatalf("a burst of 50 clicks from 50 visitors was refused: %v", verdicts(q))
		}
	}
	e2, q2, _ := redisEdge(t, Quality{DuplicateWindow: time.Millisecond, PartnerRate: 1})
	e2.Now = e.Now
	doFrom(e2, net.IPv4(198, 51, 100, 1), "http://r.example/?ref=12345")
	doFrom(e2, net.IPv4(198, 51, 100, 2), "http://r.example/?ref=12345")
	if got := verdicts(q2); got[0] != event.Valid || got[1] != event.RateLimited {
		t.Fatalf("with PartnerRate=1: %v", got)
	}
}

func TestSelfReferral(t *testing.T) {
	e, q, reg := redisEdge(t, Quality{})
	if err := reg.AddVisitor(context.Background(), "12345", "DDDDDDDDDDDDDDDDDDDDDD"); err != nil {
		t.Fatal(err)
	}
	doFrom(e, net.IPv4(198, 51, 100, 4), "http://r.example/?ref=12345", "Cookie", "rfe_vid=DDDDDDDDDDDDDDDDDDDDDD")
	if q.clicks[0].Verdict != event.SelfReferral {
		t.Fatalf("partner's own browser: %s %v", q.clicks[0].Verdict, q.clicks[0].Reasons())
	}
}

// doResp is doFrom returning the response.
func doResp(e *Edge, ip net.IP, uri string, hdr ...string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetMethod("GET")
	for _, list := range [][]string{browserHeaders, hdr} {
		for i := 0; i+1 < len(list); i += 2 {
			req.Header.Set(list[i], list[i+1])
		}
	}
	ctx.Init(&req, &net.TCPAddr{IP: ip, Port: 1234}, nil)
	e.Handler(Routes{})(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

// Program rule 1: a registered, unblocked partner whose email is not confirmed gets no
// attribution; once confirmed, the partner's clicks count after the standing cache's TTL.
func TestUnconfirmedPartner(t *testing.T) {
	e, q, reg := redisEdge(t, Quality{})
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	now := t0
	e.Now = func() time.Time { return now }
	if err := reg.Upsert(ctx, partners.Partner{ID: "777", Status: partners.Active, EmailConfirmed: false, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	click := func(want event.Verdict) {
		t.Helper()
		n := len(q.clicks)
		// A new visitor each time: no click is another's duplicate.
		vid := "AAAAAAAAAAAAAAAAAAAAA" + string(rune('a'+n))
		resp := doResp(e, net.IPv4(198, 51, 100, 7), "http://r.example/x?ref=777", "Cookie", "rfe_vid="+vid)
		if len(q.clicks) != n+1 {
			t.Fatalf("%d clicks queued, want %d", len(q.clicks), n+1)
		}
		c := q.clicks[n]
		ref := cookie(resp, refcookie.Name)
		if c.Verdict != want || resp.StatusCode() != 302 {
			t.Fatalf("at +%s: verdict %s reasons %v status %d, want %s", now.Sub(t0), c.Verdict, c.Reasons(), resp.StatusCode(), want)
		}
		if want == event.Valid {
			if ref == "" || len(c.Reasons()) != 0 {
				t.Fatalf("at +%s: valid click with rfe_ref %q, reasons %v", now.Sub(t0), ref, c.Reasons())
			}
			return
		}
		if ref != "" || !slices.Equal(c.Reasons(), []string{"partner:unconfirmed"}) {
			t.Fatalf("at +%s: refused click with rfe_ref %q, reasons %v", now.Sub(t0), ref, c.Reasons())
		}
	}

	click(event.UnconfirmedPartner)

	// The partner confirms; the edge's cached standing still says unconfirmed until the
	// TTL (5 s by default) has passed, then the next click reads the registry again.
	if err := reg.Upsert(ctx, partners.Partner{ID: "777", Status: partners.Active, EmailConfirmed: true, UpdatedAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(4 * time.Second)
	click(event.UnconfirmedPartner)
	now = t0.Add(5 * time.Second)
	click(event.Valid)

	// Unconfirmed again (the core can withdraw a confirmation): refused after the TTL.
	if err := reg.Upsert(ctx, partners.Partner{ID: "777", Status: partners.Active, EmailConfirmed: false, UpdatedAt: t0.Add(6 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(11 * time.Second)
	click(event.UnconfirmedPartner)
}

// The standing derives from the fields as stored, so entries written before email
// confirmation counted, or by hand, need no migration: a block wins over an unconfirmed
// address, and a missing email_confirmed is not confirmed.
func TestStandingFromStoredFields(t *testing.T) {
	rdb := testenv.Redis(t)
	ctx := context.Background()
	st := &RedisState{Redis: rdb, PartnerTTL: -1}
	cases := []struct {
		id     string
		fields []string
		want   PartnerState
	}{
		{"legacy-ok", []string{"status", "active", "user_id", "u1", "email_confirmed", "true", "updated_ms", "1"}, PartnerActive},
		{"legacy-no", []string{"status", "active", "user_id", "u2", "email_confirmed", "false", "updated_ms", "1"}, PartnerUnconfirmed},
		{"by-hand", []string{"status", "active"}, PartnerUnconfirmed},
		{"blocked-unconfirmed", []string{"status", "blocked", "email_confirmed", "false"}, PartnerBlocked},
		{"blocked-confirmed", []string{"status", "blocked", "email_confirmed", "true"}, PartnerBlocked},
		{"no-status", []string{"email_confirmed", "true"}, PartnerUnknown},
		{"absent", nil, PartnerUnknown},
	}
	for _, c := range cases {
		if c.fields != nil {
			if err := rdb.HSet(ctx, partners.Key(c.id), c.fields).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for _, windows := range []bool{false, true} {
			var out State
			q := StateQuery{Partner: []byte(c.id), Visitor: []byte("v:BBBBBBBBBBBBBBBBBBBBBB"), IP: netip.MustParseAddr("198.51.100.9"),
				Now: time.Now(), Windows: windows}
			if err := st.Lookup(ctx, &q, &out); err != nil {
				t.Fatal(err)
			}
			if out.Partner != c.want {
				t.Errorf("%s (windows %v): standing %d, want %d", c.id, windows, out.Partner, c.want)
			}
		}
	}
}
