package banners

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/ipintel/ipinteltest"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

// load is one banner request with ref=, from a given address and browser.
func load(t *testing.T, s *Service, uri, ip, ua, cookie string) {
	t.Helper()
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetUserAgent(ua)
	req.Header.Set("Referer", "https://blog.example/post/42")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 50000}, nil)
	s.ServeHTTP(&ctx)
	if ctx.Response.StatusCode() != 200 || len(ctx.Response.Body()) == 0 {
		t.Fatalf("GET %s: %d", uri, ctx.Response.StatusCode())
	}
}

// TestImpressionsIntoClickHouse: banner loads with ref= land in ClickHouse through a
// real attribution.Pipeline, once per visitor, banner and window.
func TestImpressionsIntoClickHouse(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := t.Context()
	if err := sink.Migrate(ctx, conn, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New[*event.Impression](
		pipeline.Config{Name: "impressions-test", FlushInterval: 50 * time.Millisecond},
		event.ReleaseImpression,
		&sink.ClickHouseImpressions{Conn: conn, DB: db},
	)
	cfg := testConfig(t)
	cfg.Keys = signing.MustKeyring("banners-test-secret-0123456789")
	s := newService(t, cfg, pipe)
	v := s.snap.Load().byID["services"].version
	partner := "p" + time.Now().Format("150405.000000")[7:]

	const desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
	const phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
	img := "/b/services/300x250.jpg?v=" + v + "&ref=" + partner
	for range 3 {
		load(t, s, img, "198.51.100.1", desktop, "") // one visitor reloading: 1
	}
	load(t, s, img, "198.51.100.1", phone, "")                                          // another browser: 1
	load(t, s, "/b/services/468x60.jpg?ref="+partner, "198.51.100.1", desktop, "")      // another banner: 1
	load(t, s, "/b/sellers/300x250.jpg?ref="+partner, "198.51.100.1", desktop, "")      // another creative: 1
	load(t, s, img, "198.51.100.2", desktop, "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA")          // with the visitor cookie: 1
	load(t, s, img, "198.51.100.3", desktop, "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA")          // same cookie, other address: 0
	load(t, s, "/b/services/300x250.jpg?ref=bad%20id", "198.51.100.9", desktop, "")     // not a partner id: 0
	load(t, s, "/b/services/300x250.jpg?v="+v, "198.51.100.9", desktop, "")             // no ref: 0
	load(t, s, "/b/services/300x250.jpg?ref="+partner+"x", "198.51.100.9", desktop, "") // other partner
	const want = 5

	type row struct {
		Source, Creative, Size, RenderID, VisitorID, VisitorHash, RefererHost, Device string
	}
	query := func() ([]row, error) {
		rows, err := conn.Query(ctx, "SELECT source, creative, size, render_id, visitor_id, visitor_hash, referer_host, device FROM "+db+
			".impressions WHERE partner_id = ? ORDER BY creative, size, device, visitor_id", partner)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.Source, &r.Creative, &r.Size, &r.RenderID, &r.VisitorID, &r.VisitorHash, &r.RefererHost, &r.Device); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, rows.Err()
	}
	var got []row
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if got, err = query(); err != nil {
			t.Fatal(err)
		}
		if len(got) >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling ClickHouse, not synchronising goroutines
	}
	// Stop both ends (flushing everything) and read again: nothing more may arrive.
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(sctx); err != nil {
		t.Fatal(err)
	}
	if err := pipe.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	got, err := query()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("got %d impressions, want %d: %+v", len(got), want, got)
	}
	sellers, phones, withVid := 0, 0, 0
	for _, r := range got {
		if r.Source != "banner" || r.RefererHost != "blog.example" || len(r.VisitorHash) < 20 || r.RenderID == "" {
			t.Fatalf("impression %+v", r)
		}
		if r.Creative == "services" && r.RenderID != v {
			t.Fatalf("render_id %q, want the version %q", r.RenderID, v)
		}
		if r.Creative == "sellers" {
			sellers++
		}
		if r.Device == "mobile" {
			phones++
		}
		if r.VisitorID == "AAAAAAAAAAAAAAAAAAAAAA" {
			withVid++
		}
	}
	if sellers != 1 || phones != 1 || withVid != 1 {
		t.Fatalf("sellers %d, mobile %d, with visitor id %d; want 1 each: %+v", sellers, phones, withVid, got)
	}
}

// stuckQueue never accepts: a ClickHouse outage long enough to fill every buffer.
type stuckQueue struct{ release chan struct{} }

func (q *stuckQueue) Enqueue(im *event.Impression) error {
	<-q.release
	event.ReleaseImpression(im)
	return nil
}

// TestImpressionNeverDelaysImage: with the event queue stuck, images are still served
// and impressions beyond the hand-off buffer are dropped and counted.
func TestImpressionNeverDelaysImage(t *testing.T) {
	q := &stuckQueue{release: make(chan struct{})}
	cfg := testConfig(t)
	cfg.ImpressionBuffer = 4
	s := newService(t, cfg, q)
	defer close(q.release) // before Close (cleanups run after): the worker can finish
	dropped := promCounter(t, impDropped)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			load(t, s, "/b/services/88x31.jpg?ref=p1", "198.51.100.1", "ua-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "")
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("banner requests waited on the stuck impression queue")
	}
	// One record may sit in the worker, ImpressionBuffer in the channel; the rest drop.
	if got := promCounter(t, impDropped) - dropped; got < 50-1-4 {
		t.Fatalf("dropped %v impressions, want at least %d", got, 50-1-4)
	}
}

// TestImpressionNetworkIntoClickHouse: a banner load from a known address, behind the
// trusted proxies, lands in ClickHouse with that address's country and ASN (the lookup
// the tracker makes for a click), and the address itself is in no column.
func TestImpressionNetworkIntoClickHouse(t *testing.T) {
	network := ipinteltest.Service(t)
	conn, db := testenv.ClickHouse(t)
	ctx := t.Context()
	if err := sink.Migrate(ctx, conn, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New[*event.Impression](
		pipeline.Config{Name: "impressions-net-test", FlushInterval: 50 * time.Millisecond},
		event.ReleaseImpression,
		&sink.ClickHouseImpressions{Conn: conn, DB: db},
	)
	cfg := testConfig(t)
	cfg.Network = network
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32"), netip.MustParsePrefix("10.0.0.0/8")}
	s := newService(t, cfg, pipe)
	const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
	cases := map[string]struct {
		xff, country string
		asn          uint32
	}{
		"net-rt":  {"178.64.0.1, 10.0.0.5", "RU", 12389}, // Rostelecom behind two proxies
		"net-mts": {"85.140.0.1", "RU", 8359},            // MTS mobile
		"net-dt6": {"2003::1", "DE", 3320},               // Deutsche Telekom IPv6
		"net-aws": {"3.120.0.1", "DE", 16509},            // AWS Frankfurt
	}
	for partner, c := range cases {
		var req fasthttp.Request
		req.SetRequestURI("/b/services/300x250.jpg?ref=" + partner)
		req.Header.SetUserAgent(ua)
		req.Header.Set("X-Forwarded-For", c.xff)
		var rc fasthttp.RequestCtx
		rc.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 50000}, nil)
		s.ServeHTTP(&rc)
		if rc.Response.StatusCode() != 200 {
			t.Fatalf("%s: status %d", partner, rc.Response.StatusCode())
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Close(sctx); err != nil {
		t.Fatal(err)
	}
	if err := pipe.Stop(sctx); err != nil { // flushes every impression taken
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT partner_id, country, asn, toString(tuple(*)) FROM "+db+".impressions")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var partner, country, all string
		var asn uint32
		if err := rows.Scan(&partner, &country, &asn, &all); err != nil {
			t.Fatal(err)
		}
		c, ok := cases[partner]
		if !ok || country != c.country || asn != c.asn {
			t.Fatalf("%s: country %q ASN %d, want %q %d", partner, country, asn, c.country, c.asn)
		}
		for _, addr := range []string{"178.64.0.1", "85.140.0.1", "2003::1", "3.120.0.1", "203.0.113.9"} {
			if strings.Contains(all, addr) {
				t.Fatalf("%s: the row holds the address %s: %s", partner, addr, all)
			}
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(cases) {
		t.Fatalf("%d impressions in ClickHouse, want %d", seen, len(cases))
	}
}
