package crawlers

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
)

// Options configures New. The zero value gives the default matcher: the embedded list,
// the built-in agents, the heuristics and a 65,536-entry cache.
type Options struct {
	// Extra holds additional RE2 patterns, matched case-sensitively like the list's.
	// A pattern that does not compile, or that matches the empty string, makes New fail.
	// Empty by default.
	Extra []string
	// Exclude names list patterns, exactly as written in the list, to leave out.
	// Empty by default.
	Exclude []string
	// NoHeuristics turns off the generic rules (automation words, contact details,
	// browser-shape checks), leaving the list, the built-in agents and Extra.
	// False by default.
	NoHeuristics bool
	// CacheSize is the number of verdicts remembered, rounded up to a power of two.
	// 0 means 65,536 (about 1.5 MiB); a negative value disables the cache.
	CacheSize int
	// Logger receives one record about the compiled list. nil means slog.Default().
	Logger *slog.Logger
}

// DefaultCacheSize is the cache size used when Options.CacheSize is 0.
const DefaultCacheSize = 1 << 16

// Matcher reports whether a User-Agent belongs to a crawler, bot or link-preview fetcher.
// It is safe for concurrent use.
type Matcher struct {
	rules   []rule
	ac      *automaton
	keyLen  []int32 // automaton key -> literal length
	keyRule []int32 // automaton key -> rule
	always  []int32 // regexp rules without a required literal, run on every miss
	cache   *cache
	stats   Stats

	heuristics                                      bool
	ruleEmpty, ruleNoBrowser, ruleCompat, ruleLower int32
}

// Stats describes a compiled Matcher.
type Stats struct {
	ListPatterns   int              // entries in the embedded list
	ListCompiled   int              // list patterns in use (overridden ones included)
	ListOverridden int              // list patterns narrowed by this package's overrides
	ListDropped    int              // list patterns left out by overrides or Options.Exclude
	ListSkipped    []SkippedPattern // list patterns RE2 cannot express
	ExtraAgents    int              // built-in agents in use
	ExtraRedundant int              // built-in agents the list already covers
	Unindexed      int              // regexps without a required literal (run on every miss)
	Keys           int              // literals in the automaton
	States         int              // automaton states
}

// SkippedPattern is a list pattern that could not be compiled, and why.
type SkippedPattern struct {
	Pattern string
	Reason  string
}

type ruleKind uint8

const (
	kindNone    ruleKind = iota // named outcome only (structural heuristics)
	kindHit                     // a key occurrence that passes the guard is the match
	kindLiteral                 // case-sensitive literal anywhere
	kindPrefix                  // case-sensitive literal at the start
	kindRegexp                  // regexp confirmed on the whole User-Agent
	kindMarker                  // sets marks for the structural heuristics
)

type ruleSource uint8

const (
	srcList ruleSource = iota
	srcExtra
	srcOption
	srcHeuristic
)

type rule struct {
	name    string
	reason  string // the reason code the tracker records: ReasonCrawler or a general rule's
	general bool   // a general rule's word (rules.go)
	weak    bool   // a generic heuristic word an in-app browser overrides (inAppOverridable)
	kind    ruleKind
	src     ruleSource
	guard   guard
	mark    uint8
	lit     []byte
	re      *regexp.Regexp
}

const noRule = -1

var (
	defaultOnce    sync.Once
	defaultMatcher *Matcher
)

// Default returns the process-wide matcher with default Options, built on first use.
// It panics if the embedded list cannot be compiled, which the package's tests rule out.
func Default() *Matcher {
	defaultOnce.Do(func() {
		m, err := New(Options{})
		if err != nil {
			panic(fmt.Sprintf("crawlers: cannot build the default matcher: %v", err))
		}
		defaultMatcher = m
	})
	return defaultMatcher
}

// Stats returns what the matcher was compiled from.
func (m *Matcher) Stats() Stats { return m.stats }

// Match returns the rule that matched ua (a list pattern as written in the list, a
// built-in or Extra pattern, or a "heuristic:..." name) and true when ua belongs to a
// crawler, bot or link-preview fetcher; "" and false for a browser. It does not
// allocate and does not keep ua.
func (m *Matcher) Match(ua []byte) (rule string, ok bool) {
	rule, _, ok = m.Verdict(ua)
	return rule, ok
}

// Verdict is Match with the reason code of the rule that matched: ReasonCrawler for the
// list, the built-in agents, Options.Extra and the generic heuristics, or the reason of
// a general rule (ReasonMonitor, ReasonPayload, ...). It does not allocate.
func (m *Matcher) Verdict(ua []byte) (rule, reason string, ok bool) {
	var r int32
	if m.cache != nil {
		h1, h2 := m.cache.hash(ua)
		var hit bool
		if r, hit = m.cache.get(h1, h2); !hit {
			r = m.match(ua)
			m.cache.put(h1, h2, r)
		}
	} else {
		r = m.match(ua)
	}
	if r == noRule {
		return "", "", false
	}
	return m.rules[r].name, m.rules[r].reason, true
}

// match runs the automaton once over ua. A list, built-in or Extra rule confirmed at an
// occurrence ends the scan; a heuristic word is remembered and returned only if no
// named rule matches, so named agents are reported by name. Then, in this order: a
// general rule's word (rules.go), a lower-cased User-Agent, a generic word only
// automated clients use, any other generic word unless ua is an in-app browser
// (inapp.go), and the shape checks.
func (m *Matcher) match(ua []byte) int32 {
	if len(bytes.TrimSpace(ua)) == 0 {
		if m.heuristics {
			return m.ruleEmpty
		}
		return noRule
	}
	a := m.ac
	var tried [8]int32 // regexp rules already run on ua
	nTried := 0
	var marks uint8
	general, strong, weak := int32(noRule), int32(noRule), int32(noRule)
	row := uint32(0)
	for i := 0; i < len(ua); i++ {
		v := a.delta[row+uint32(a.class[ua[i]])]
		row = v &^ hasOutput
		if v&hasOutput == 0 {
			continue
		}
		for _, k := range a.outputs(v) {
			ri := m.keyRule[k]
			r := &m.rules[ri]
			end := i + 1
			start := end - int(m.keyLen[k])
			switch r.kind {
			case kindMarker:
				marks |= r.mark
				continue
			case kindHit:
				slot := &strong
				switch {
				case r.general:
					slot = &general
				case r.weak:
					slot = &weak
				}
				if *slot == noRule && passes(ua, start, end, r.guard) {
					*slot = ri
				}
				continue
			case kindLiteral:
				if !bytes.Equal(ua[start:end], r.lit) {
					continue
				}
			case kindPrefix:
				if start != 0 || !bytes.Equal(ua[start:end], r.lit) {
					continue
				}
			}
			if !passes(ua, start, end, r.guard) {
				continue
			}
			if r.kind == kindRegexp {
				if triedBefore(tried[:nTried], ri) {
					continue
				}
				if nTried < len(tried) {
					tried[nTried] = ri
					nTried++
				}
				if !r.re.Match(ua) {
					continue
				}
			}
			return ri
		}
	}
	for _, ri := range m.always {
		if m.rules[ri].re.Match(ua) {
			return ri
		}
	}
	switch {
	case general != noRule:
		return general
	case !m.heuristics:
		return noRule
	case isLowercased(ua, marks):
		return m.ruleLower
	case strong != noRule:
		return strong
	case weak != noRule:
		if _, in := InApp(ua); in {
			return noRule
		}
		return weak
	case marks&markEngine == 0:
		return m.ruleNoBrowser
	case marks&markCompatible != 0 && marks&markCompatibleOK == 0:
		return m.ruleCompat
	}
	return noRule
}

func triedBefore(tried []int32, r int32) bool {
	for _, t := range tried {
		if t == r {
			return true
		}
	}
	return false
}
