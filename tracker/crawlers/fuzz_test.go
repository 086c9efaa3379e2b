package crawlers

import "testing"

// FuzzMatch checks that Match never panics, is deterministic, and that the cache never
// changes a verdict.
func FuzzMatch(f *testing.F) {
	for _, seed := range []string{
		"",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Mozilla/5.0 (Linux; Android 4.2.2; HTC Butterfly Build/JDQ39) AppleWebKit/537.36",
		"Mozilla/5.0 (Linux; U; Android 4.0.4; en-us; Robot X) AppleWebKit",
		"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
		"a@b.cd", "(", ")(;", "bot", "Cubot", "Build/", "\xff\xfe(Android;Build/)",
	} {
		f.Add([]byte(seed))
	}
	cached := newTestMatcher(f, Options{CacheSize: 256})
	plain := newTestMatcher(f, Options{CacheSize: -1})
	f.Fuzz(func(t *testing.T, ua []byte) {
		rule1, ok1 := plain.Match(ua)
		rule2, ok2 := plain.Match(ua)
		rule3, ok3 := cached.Match(ua)
		rule4, ok4 := cached.Match(ua)
		if rule1 != rule2 || ok1 != ok2 || rule1 != rule3 || ok1 != ok3 || rule1 != rule4 || ok1 != ok4 {
			t.Fatalf("Match(%q) not deterministic: %q/%v %q/%v %q/%v %q/%v", ua, rule1, ok1, rule2, ok2, rule3, ok3, rule4, ok4)
		}
		if ok1 != (rule1 != "") {
			t.Fatalf("Match(%q) = %q, %v", ua, rule1, ok1)
		}
	})
}
