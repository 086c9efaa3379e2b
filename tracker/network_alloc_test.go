//go:build !race

package tracker

import (
	"net"
	"net/netip"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/ipintel/ipinteltest"
)

// TestNetworkAllocations: the classifier with the network step, and the click handler
// with it, allocate nothing, for a valid click and a data centre's.
func TestNetworkAllocations(t *testing.T) {
	svc := ipinteltest.Service(t)
	cl := NewClassifier(Quality{Network: svc}, nil)
	for _, ip := range []string{"178.64.0.1", "3.120.0.1", "2a01:4f8::1"} {
		s := realisticSignals()
		s.IP = netip.MustParseAddr(ip)
		c := event.AcquireClick()
		var d Decision
		n := testing.AllocsPerRun(1000, func() {
			cl.Classify(s, c, &d)
			event.ReleaseClick(c)
			c = event.AcquireClick()
		})
		if n != 0 {
			t.Errorf("Classify from %s: %.1f allocations, want 0", ip, n)
		}
	}
	e := networkEdge(t, svc, discardQueue{})
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://r.example/categories/design?ref=12345&src=link")
	for i := 0; i < len(chromeHeaders); i += 2 {
		req.Header.Set(chromeHeaders[i], chromeHeaders[i+1])
	}
	req.Header.Set("X-Forwarded-For", "3.120.0.1")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4444}, nil)
	h := e.Handler(Routes{})
	if n := testing.AllocsPerRun(1000, func() { ctx.Response.Reset(); h(&ctx) }); n != 0 {
		t.Errorf("click handler with the network step: %.1f allocations per request, want 0", n)
	}
}
