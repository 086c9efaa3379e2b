package tracker

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/testenv"
)

// redisEdge is an edge over real Redis with partners "12345" (active) and "666" (blocked).
func redisEdge(t *testing.T, q Quality) (*Edge, *memQueue, *partners.Registry) {
	t.Helper()
	rdb := testenv.Redis(t)
	reg := &partners.Registry{R: rdb}
	ctx := context.Background()
	for id, st := range map[string]partners.Status{"12345": partners.Active, "666": partners.Blocked} {
		if err := reg.Upsert(ctx, partners.Partner{ID: id, Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	mq := &memQueue{}
	st := &RedisState{R: rdb, Q: q}
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

func verdicts(q *memQueue) []attribution.Verdict {
	out := make([]attribution.Verdict, len(q.clicks))
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
	want := []attribution.Verdict{attribution.Valid, attribution.Duplicate, attribution.BlockedPartner,
		attribution.Valid, attribution.Valid, attribution.Duplicate}
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
	want := []attribution.Verdict{attribution.Valid, attribution.Valid, attribution.Valid,
		attribution.RateLimited, attribution.RateLimited, attribution.RateLimited, attribution.Valid}
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
	want := []attribution.Verdict{attribution.Valid, attribution.Valid, attribution.Valid, attribution.Valid,
		attribution.Valid, attribution.Valid, attribution.RateLimited}
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
		if v != attribution.Valid {
			t.Fatalf("a burst of 50 clicks from 50 visitors was refused: %v", verdicts(q))
		}
	}
	e2, q2, _ := redisEdge(t, Quality{DuplicateWindow: time.Millisecond, PartnerRate: 1})
	e2.Now = e.Now
	doFrom(e2, net.IPv4(198, 51, 100, 1), "http://r.example/?ref=12345")
	doFrom(e2, net.IPv4(198, 51, 100, 2), "http://r.example/?ref=12345")
	if got := verdicts(q2); got[0] != attribution.Valid || got[1] != attribution.RateLimited {
		t.Fatalf("with PartnerRate=1: %v", got)
	}
}

func TestSelfReferral(t *testing.T) {
	e, q, reg := redisEdge(t, Quality{})
	if err := reg.AddVisitor(context.Background(), "12345", "DDDDDDDDDDDDDDDDDDDDDD"); err != nil {
		t.Fatal(err)
	}
	doFrom(e, net.IPv4(198, 51, 100, 4), "http://r.example/?ref=12345", "Cookie", "rfe_vid=DDDDDDDDDDDDDDDDDDDDDD")
	if q.clicks[0].Verdict != attribution.SelfReferral {
		t.Fatalf("partner's own browser: %s %v", q.clicks[0].Verdict, q.clicks[0].Reasons())
	}
}
