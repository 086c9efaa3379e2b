package widget

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

const (
	testMarket = "https://market.example"
	testPublic = "https://refedge.example"
	testSecret = "widget-test-secret-0123456789"
)

// memImpressions collects impressions (copied out) for handler tests; the ClickHouse
// path is exercised by the browser test.
type memImpressions struct {
	mu  sync.Mutex
	got []impressionRow
}

type impressionRow struct {
	Partner, Source, Creative, Size, Render, Host, VisitorHash, Device string
	Country                                                            string
	ASN                                                                uint32
}

func (m *memImpressions) Enqueue(im *event.Impression) error {
	m.mu.Lock()
	m.got = append(m.got, impressionRow{im.Partner(), im.Source(), im.Creative(), im.Size(), im.RenderID(),
		im.RefererHost(), im.VisitorHash(), im.Device(), im.Country(), im.ASN})
	m.mu.Unlock()
	event.ReleaseImpression(im)
	return nil
}

func (m *memImpressions) rows() []impressionRow {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]impressionRow(nil), m.got...)
}

type fixture struct {
	svc  *Service
	rdb  *redis.Client
	reg  *partners.Registry
	auth *partnerapi.Auth
	imp  *memImpressions
	api  *partnerapi.Router
}

// newFixture returns a service on a Redis database leased to this test.
func newFixture(t testing.TB, mod ...func(*Config)) *fixture {
	t.Helper()
	rdb := testenv.Redis(t)
	kr := signing.MustKeyring(testSecret)
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: kr, Redis: rdb, PublicURL: testPublic})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{rdb: rdb, reg: &partners.Registry{Redis: rdb}, auth: auth, imp: &memImpressions{}}
	cfg := Config{Redis: rdb, Keys: kr, MarketOrigin: testMarket, PublicURL: testPublic, Impressions: f.imp,
		Auth: auth, Partners: f.reg, Log: quietLog()}
	for _, m := range mod {
		m(&cfg)
	}
	if f.svc, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.svc.Close)
	f.api = partnerapi.NewRouter(auth, quietLog())
	f.svc.RegisterAPI(f.api)
	return f
}

func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func (f *fixture) partner(t testing.TB, id string, st partners.Status) {
	t.Helper()
	if err := f.reg.Upsert(context.Background(), partners.Partner{ID: id, Status: st, EmailConfirmed: true, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) kwork(t testing.TB, k Kwork) {
	t.Helper()
	if k.Currency == "" {
		k.Currency = "USD"
	}
	if k.URL == "" {
		k.URL = testMarket + "/kwork/" + k.ID
	}
	if _, err := f.svc.Catalog().Put(context.Background(), k); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) widget(t testing.TB, partner string, spec Spec) Widget {
	t.Helper()
	if err := spec.normalize(f.svc.limits()); err != nil {
		t.Fatal(err)
	}
	w, err := f.svc.Store().Create(context.Background(), partner, spec, 100)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// do serves one request through h and returns the response (caller releases nothing:
// the response is copied).
func do(h fasthttp.RequestHandler, method, uri string, body []byte, hdr map[string]string) *fasthttp.Response {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.SetBody(body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4000}, nil)
	h(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
