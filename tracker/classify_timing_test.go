package tracker

import (
	"net/netip"
	"testing"

	"github.com/refedge/refedge/attribution/event"
)

// realisticSignals is a Chromium navigation from a blog with a query carrying a few
// marketing parameters: every step runs and none short-circuits.
func realisticSignals() *Signals {
	return &Signals{
		UserAgent:      []byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"),
		Accept:         []byte("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
		AcceptLanguage: []byte("ru-RU,ru;q=0.9,en;q=0.8"),
		Referer:        []byte("https://blog.example/2026/11/best-freelancers"),
		SecFetchDest:   []byte("document"),
		SecFetchMode:   []byte("navigate"),
		SecFetchSite:   []byte("cross-site"),
		SecFetchUser:   []byte("?1"),
		SecCHUA:        []byte(`"Chromium";v="156", "Google Chrome";v="156"`),
		RawQuery:       []byte("utm_source=blog&utm_medium=referral&utm_campaign=nov&ref=12345&src=link"),
		IP:             netip.MustParseAddr("203.0.113.7"),
		TLS:            true,
		PartnerValid:   true,
		State:          State{Partner: PartnerActive},
	}
}

// BenchmarkClassify measures the classifier alone (target: at most 10 µs and zero
// allocations per click). The crawler matcher's cache is warm after the first call, as
// it is for the repeated User-Agents of real traffic.
func BenchmarkClassify(b *testing.B) {
	benchClassify(b, NewClassifier(Quality{}, nil), realisticSignals())
}

// benchClassify classifies s with cl on every core, a fresh click each time.
func benchClassify(b *testing.B, cl *Classifier, s *Signals) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := event.AcquireClick()
		var d Decision
		for pb.Next() {
			cl.Classify(s, c, &d)
			event.ReleaseClick(c)
			c = event.AcquireClick()
		}
	})
}

// BenchmarkClassifyColdUA is the same with a User-Agent never seen before on every call
// (the crawler matcher's cache misses).
func BenchmarkClassifyColdUA(b *testing.B) {
	cl := NewClassifier(Quality{}, nil)
	s := realisticSignals()
	ua := append([]byte(nil), s.UserAgent...)
	b.ReportAllocs()
	c := event.AcquireClick()
	var d Decision
	for i := 0; i < b.N; i++ {
		// Vary the build number so each User-Agent is new to the cache.
		ua[len(ua)-20] = byte('0' + i%10)
		ua[len(ua)-21] = byte('0' + (i/10)%10)
		ua[len(ua)-22] = byte('0' + (i/100)%10)
		s.UserAgent = ua
		cl.Classify(s, c, &d)
		event.ReleaseClick(c)
		c = event.AcquireClick()
	}
}
