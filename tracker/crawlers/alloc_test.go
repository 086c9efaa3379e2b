//go:build !race

package crawlers

import "testing"

// Match must not allocate: not on a cache hit, not on a miss (a full scan plus the
// cache insert), not without a cache.
func TestMatchAllocs(t *testing.T) {
	uas := [][]byte{
		[]byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
		[]byte("Mozilla/5.0 (Linux; Android 4.2.2; HTC Butterfly Build/JDQ39) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/30.0.1599.92 Mobile Safari/537.36"),
		[]byte("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
		[]byte("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)"), // regexp rule
		[]byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36"),
		[]byte("curl/8.5.0"),
		[]byte(""),
		// General rules and the in-app browser rule.
		[]byte("mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/120.0.0.0 safari/537.36"),
		[]byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 ${jndi:ldap://x/a}"),
		[]byte("Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 CamScanner/6.62.0.2404160000"),
		[]byte("Mozilla/5.0 (Linux; Android 11; SM-A515F Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/96.0.4664.104 Mobile Safari/537.36 Viber/11.9.5.8"),
	}
	f := func(name string, m *Matcher, next func() []byte) {
		t.Helper()
		if n := testing.AllocsPerRun(200, func() { m.Match(next()) }); n != 0 {
			t.Fatalf("%s: %v allocations per Match, want 0", name, n)
		}
		if n := testing.AllocsPerRun(200, func() { InApp(next()) }); n != 0 {
			t.Fatalf("%s: %v allocations per InApp, want 0", name, n)
		}
	}
	cached := newTestMatcher(t, Options{})
	uncached := newTestMatcher(t, Options{CacheSize: -1})
	for _, ua := range uas {
		f("cache hit "+string(ua), cached, func() []byte { return ua })
		f("no cache "+string(ua), uncached, func() []byte { return ua })
	}
	// Cache misses: more distinct User-Agents than a tiny cache holds.
	tiny := newTestMatcher(t, Options{CacheSize: 4})
	distinct := make([][]byte, 64)
	for i := range distinct {
		distinct[i] = append([]byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0."), byte('0'+i%10), byte('a'+i/10))
	}
	i := 0
	f("cache miss", tiny, func() []byte { i++; return distinct[i%len(distinct)] })
}
