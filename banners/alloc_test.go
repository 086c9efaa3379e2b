//go:build !race

package banners

import (
	"hash/maphash"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/ipintel/ipinteltest"
)

// TestServeDoesNotAllocate: serving a cached banner — 200, 304, and with ref= handing
// off an impression — allocates nothing.
func TestServeDoesNotAllocate(t *testing.T) {
	s := newService(t, testConfig(t), nil)
	e := s.snap.Load().byID["services"]
	etag := string(e.out[sizeIndex(300, 250)].Load().etag)
	// The impression hand-off without a worker: run returns each record to the pool
	// itself, as the worker does, so only the request path is measured.
	s.imp = &impressions{cfg: &s.cfg, in: make(chan *impressionRec, 1)}
	defer func() { s.imp = nil }()

	f := func(uri string, headers ...string) {
		t.Helper()
		var req fasthttp.Request
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 1}, nil)
		run := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.SetRequestURI(uri)
			ctx.Request.Header.SetUserAgent("Mozilla/5.0 test")
			for i := 0; i+1 < len(headers); i += 2 {
				ctx.Request.Header.Set(headers[i], headers[i+1])
			}
			s.ServeHTTP(&ctx)
			select {
			case r := <-s.imp.in:
				recPool.Put(r)
			default:
			}
		}
		run()
		if c := ctx.Response.StatusCode(); c != 200 && c != 304 && c != 404 {
			t.Fatalf("%s: status %d", uri, c)
		}
		if n := testing.AllocsPerRun(1000, run); n != 0 {
			t.Fatalf("%s %v: %v allocations per request, want 0", uri, headers, n)
		}
	}
	f("/b/services/300x250.jpg?v=" + e.version)
	f("/b/services/300x250.jpg")
	f("/b/services/300x250.jpg?v="+e.version, "If-None-Match", etag)
	f("/b/services/300x250.jpg?v="+e.version+"&ref=partner-1", "Referer", "https://blog.example/", "Cookie", "rfe_vid=AAAAAAAAAAAAAAAAAAAAAA")
	f("/b/services/301x250.jpg")
}

// TestRecordNetworkAllocations: the worker's step from a taken load to a queued
// impression makes no more allocations with the network lookup (country and ASN) than
// without it, for IPv4 and IPv6 viewers behind the trusted proxies.
func TestRecordNetworkAllocations(t *testing.T) {
	network := ipinteltest.Service(t)
	e := newService(t, testConfig(t), nil).snap.Load().byID["services"]
	measure := func(network *ipintel.Service, xff string) (allocs float64, got *event.Impression) {
		cfg := Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}, Network: network}
		q := &lastImpression{}
		// A small dedup set: its maps reach their size in the warm-up and are reused.
		im := &impressions{cfg: &cfg, q: q, dd: newDedup(time.Hour, 64), seed: maphash.MakeSeed(),
			hash: make([]byte, 0, 64), msg: make([]byte, 0, 1024)}
		var n uint64
		run := func() {
			r := recPool.Get().(*impressionRec)
			n++
			r.at, r.e, r.size, r.peer = time.Now(), e, sizeIndex(300, 250), netip.MustParseAddr("203.0.113.9")
			r.partner = append(r.partner[:0], "partner-1"...)
			r.vid = strconv.AppendUint(append(r.vid[:0], "AAAAAAAAAA"...), n, 10) // never a duplicate
			r.xff = append(r.xff[:0], xff...)
			r.ua = append(r.ua[:0], "Mozilla/5.0 test"...)
			r.referer = append(r.referer[:0], "https://blog.example/"...)
			im.record(r)
		}
		for range 200 {
			run()
		}
		return testing.AllocsPerRun(1000, run), q.last
	}
	for _, c := range []struct {
		xff, country string
		asn          uint32
	}{{"178.64.0.1", "RU", 12389}, {"2003::1", "DE", 3320}} {
		without, _ := measure(nil, c.xff)
		with, got := measure(network, c.xff)
		if got == nil || got.Country() != c.country || got.ASN != c.asn {
			t.Fatalf("%s: impression %v, want %s AS%d", c.xff, got, c.country, c.asn)
		}
		t.Logf("%s: %v allocations per impression without the lookup, %v with it", c.xff, without, with)
		if with > without {
			t.Fatalf("%s: the lookup adds %v allocations per impression", c.xff, with-without)
		}
	}
}

// lastImpression keeps a copy of the last impression's network and releases each.
type lastImpression struct{ last *event.Impression }

func (q *lastImpression) Enqueue(im *event.Impression) error {
	if q.last == nil {
		q.last = &event.Impression{}
	}
	q.last.ASN = im.ASN
	q.last.SetCountry(im.Country())
	event.ReleaseImpression(im)
	return nil
}
