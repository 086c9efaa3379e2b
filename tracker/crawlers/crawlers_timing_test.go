package crawlers

import (
	"sync/atomic"
	"testing"
)

var (
	benchBrowser = []byte("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36")
	benchBot     = []byte("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
)

func benchMatch(b *testing.B, opts Options, ua []byte, want bool) {
	m := newTestMatcher(b, opts)
	if _, ok := m.Match(ua); ok != want {
		b.Fatalf("Match(%q) = %v, want %v", ua, ok, want)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(ua)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Match(ua)
		}
	})
}

// Cache hit: the same User-Agent again.
func BenchmarkMatchHitBrowser(b *testing.B) { benchMatch(b, Options{}, benchBrowser, false) }
func BenchmarkMatchHitBot(b *testing.B)     { benchMatch(b, Options{}, benchBot, true) }

// Miss: the full scan, with the cache off.
func BenchmarkMatchMissBrowser(b *testing.B) {
	benchMatch(b, Options{CacheSize: -1}, benchBrowser, false)
}
func BenchmarkMatchMissBot(b *testing.B) { benchMatch(b, Options{CacheSize: -1}, benchBot, true) }

// BenchmarkMatchMissCorpus scans the real-browser and crawler corpora without a cache:
// the average cost of a first sighting.
func BenchmarkMatchMissCorpus(b *testing.B) {
	m := newTestMatcher(b, Options{CacheSize: -1})
	var uas [][]byte
	for _, name := range []string{"browsers-user-agents.txt.gz", "crawlers-crawlerdetect.txt.gz"} {
		for _, s := range readCorpus(b, name) {
			uas = append(uas, []byte(s))
		}
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Match(uas[next.Add(1)%uint64(len(uas))])
		}
	})
}
