package crawlers

import (
	"math/rand/v2"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	f := func(pattern string, want ...string) {
		t.Helper()
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := requiredLiterals(re.Simplify())
		if len(want) == 0 {
			if ok {
				t.Fatalf("requiredLiterals(%q) = %q, want none", pattern, got)
			}
			return
		}
		if !ok || !slices.Equal(got, want) {
			t.Fatalf("requiredLiterals(%q) = %q, %v; want %q", pattern, got, ok, want)
		}
	}
	f(`Googlebot\/`, "googlebot/")
	f(`^curl`, "curl")
	f(`[wW]get`, "wget")
	f(`S[eE][mM]rushBot`, "semrushbot")
	f(`(sistrix|SISTRIX) [cC]rawler`, "sistrix crawler")
	f(`Ahrefs(Bot|SiteAudit)`, "ahrefsbot", "ahrefssiteaudit")
	f(`AdsBot-Google([^-]|$)`, "adsbot-google")
	f(`BlogTraffic\/\d\.\d+ Feed-Fetcher`, " feed-fetcher")
	f(`ContextualBot[\s\S]*outcomes\.net`, "contextualbot")
	f(`(^| )sentry\/`, " sentry/", "sentry/")
	f(`Automaton|Newsify Feed Fetcher`, "automaton", "newsify feed fetcher")
	f(`bots?`, "bot", "bots")
	f(`(?i)fetcher`, "fetcher")
	f(`(?i)kbot`) // folding k reaches U+212A, which the automaton would not see
	f(`.*`)
	f(`\d+`)
	f(`a|.`)
}

// TestAutomaton compares the automaton with a naive search on random keys and texts
// over a small alphabet, where keys overlap and nest a lot.
func TestAutomaton(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, 1+rng.IntN(n))
		for i := range b {
			b[i] = "abAB(/"[rng.IntN(6)]
		}
		return string(b)
	}
	for round := 0; round < 50; round++ {
		var keys []acKey
		for i := 0; i < 1+rng.IntN(30); i++ {
			keys = append(keys, acKey{lit: lowerASCII(word(5)), rule: int32(i)})
		}
		a := buildAutomaton(keys)
		for j := 0; j < 20; j++ {
			text := word(40)
			lower := lowerASCII(text)
			var want, got []string
			for end := 1; end <= len(text); end++ {
				for k, key := range keys {
					if strings.HasSuffix(lower[:end], key.lit) {
						want = append(want, string(rune('A'+k))+"@"+string(rune('0'+end)))
					}
				}
			}
			row := uint32(0)
			for i := 0; i < len(text); i++ {
				v := a.delta[row+uint32(a.class[text[i]])]
				row = v &^ hasOutput
				if v&hasOutput != 0 {
					for _, k := range a.outputs(v) {
						got = append(got, string(rune('A'+k))+"@"+string(rune('0'+i+1)))
					}
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("keys %v, text %q: got %v, want %v", keys, text, got, want)
			}
		}
	}
}
