//go:build !race

package tracker

import (
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
)

// TestClickAllocations: the click handler allocates nothing per request once its pools
// are warm.
func TestClickAllocations(t *testing.T) {
	e := newTestEdge(t, memState(), discardQueue{})
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://r.example/categories/design?x=1&ref=12345&src=banner&cr=468x60")
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Referer", "https://blog.example/post")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 4444}, nil)
	h := e.Handler(Routes{})
	allocs := testing.AllocsPerRun(1000, func() {
		ctx.Response.Reset()
		h(&ctx)
	})
	if allocs != 0 {
		t.Fatalf("click handler: %.1f allocations per request, want 0", allocs)
	}
}

// TestClassifyAllocations: the classifier alone allocates nothing.
func TestClassifyAllocations(t *testing.T) {
	cl := NewClassifier(Quality{}, nil)
	s := realisticSignals()
	c := event.AcquireClick()
	var d Decision
	allocs := testing.AllocsPerRun(1000, func() {
		cl.Classify(s, c, &d)
		event.ReleaseClick(c)
		c = event.AcquireClick()
	})
	if allocs != 0 {
		t.Fatalf("classifier: %.1f allocations per click, want 0", allocs)
	}
}
