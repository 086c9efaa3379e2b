package crawlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"regexp/syntax"
	"slices"
)

// New compiles the embedded crawler list, the built-in agents, opts.Extra and (unless
// opts.NoHeuristics) the heuristics into a Matcher.
func New(opts Options) (*Matcher, error) {
	return newMatcher(listJSON, opts)
}

// builder collects rules and automaton keys.
type builder struct {
	rules  []rule
	keys   []acKey
	always []int32
}

func newMatcher(list []byte, opts Options) (*Matcher, error) {
	entries, err := parseList(list)
	if err != nil {
		return nil, err
	}
	var b builder
	var st Stats
	st.ListPatterns = len(entries)
	excluded := make(map[string]bool, len(opts.Exclude))
	for _, p := range opts.Exclude {
		excluded[p] = true
	}
	for _, e := range entries {
		if excluded[e.Pattern] {
			st.ListDropped++
			continue
		}
		pattern := e.Pattern
		if o, ok := listOverrides[e.Pattern]; ok {
			if o.replacement == "" {
				st.ListDropped++
				continue
			}
			pattern = o.replacement
			st.ListOverridden++
		} else if pattern, err = jsToRE2(e.Pattern); err != nil {
			st.ListSkipped = append(st.ListSkipped, SkippedPattern{e.Pattern, err.Error()})
			continue
		}
		// A phone's model or build id is never an agent name; see guardModel.
		if err := b.add(e.Pattern, pattern, srcList, guardModel); err != nil {
			st.ListSkipped = append(st.ListSkipped, SkippedPattern{e.Pattern, err.Error()})
			continue
		}
		st.ListCompiled++
	}

	// Built-in agents the list already matches are left out.
	listOnly := b.matcher()
	for _, x := range extraAgents {
		if coversAll(listOnly, x.Samples) {
			st.ExtraRedundant++
			continue
		}
		if err := b.add(x.Pattern, x.Pattern, srcExtra, guardModel); err != nil {
			return nil, fmt.Errorf("built-in agent %q: %w", x.Pattern, err)
		}
		st.ExtraAgents++
	}
	for _, p := range opts.Extra {
		if err := b.add(p, p, srcOption, 0); err != nil {
			return nil, fmt.Errorf("Options.Extra %q: %w", p, err)
		}
	}

	var m *Matcher
	if opts.NoHeuristics {
		m = b.matcher()
	} else {
		m = b.withHeuristics()
	}
	switch {
	case opts.CacheSize == 0:
		m.cache = newCache(DefaultCacheSize)
	case opts.CacheSize > 0:
		m.cache = newCache(opts.CacheSize)
	}
	st.Unindexed = len(m.always)
	st.Keys = len(m.keyRule)
	st.States = m.ac.states()
	m.stats = st

	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	level := slog.LevelDebug
	if len(st.ListSkipped) > 0 {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "crawler list compiled",
		"patterns", st.ListPatterns, "compiled", st.ListCompiled, "skipped", len(st.ListSkipped),
		"overridden", st.ListOverridden, "dropped", st.ListDropped,
		"extra_agents", st.ExtraAgents, "unindexed", st.Unindexed, "states", st.States)
	return m, nil
}

// add compiles one RE2 pattern into a rule named name.
func (b *builder) add(name, pattern string, src ruleSource, g guard) error {
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return err
	}
	if re.MatchString("") {
		return errors.New("matches every User-Agent")
	}
	sre := parsed.Simplify()
	r := rule{name: name, reason: ReasonCrawler, src: src, guard: g}
	switch {
	case isPlainLiteral(sre):
		r.kind, r.lit = kindLiteral, []byte(string(sre.Rune))
	case sre.Op == syntax.OpConcat && len(sre.Sub) == 2 &&
		sre.Sub[0].Op == syntax.OpBeginText && isPlainLiteral(sre.Sub[1]):
		r.kind, r.lit = kindPrefix, []byte(string(sre.Sub[1].Rune))
	default:
		r.kind, r.re = kindRegexp, re
	}
	id := int32(len(b.rules))
	b.rules = append(b.rules, r)
	if r.lit != nil {
		b.keys = append(b.keys, acKey{lit: lowerASCII(string(r.lit)), rule: id})
		return nil
	}
	lits, ok := requiredLiterals(sre)
	if !ok {
		b.always = append(b.always, id)
		return nil
	}
	for _, l := range lits {
		b.keys = append(b.keys, acKey{lit: l, rule: id})
	}
	return nil
}

func isPlainLiteral(re *syntax.Regexp) bool {
	return re.Op == syntax.OpLiteral && re.Flags&syntax.FoldCase == 0
}

// withHeuristics adds the heuristic words, the structural markers and the named
// structural outcomes, and returns the resulting matcher.
func (b *builder) withHeuristics() *Matcher {
	hb := builder{rules: slices.Clone(b.rules), keys: slices.Clone(b.keys), always: b.always}
	for _, t := range heuristicTokens {
		id := int32(len(hb.rules))
		hb.rules = append(hb.rules, rule{name: tokenRulePrefix + t.lit, reason: ReasonCrawler, weak: inAppOverridable[t.lit], kind: kindHit, src: srcHeuristic, guard: t.guard})
		hb.keys = append(hb.keys, acKey{lit: t.lit, rule: id})
	}
	for _, f := range ruleFamilies {
		for _, t := range f.tokens {
			id := int32(len(hb.rules))
			hb.rules = append(hb.rules, rule{name: "heuristic:" + f.name + ":" + t.lit, reason: "ua:" + f.name, general: true, kind: kindHit, src: srcHeuristic, guard: t.guard})
			hb.keys = append(hb.keys, acKey{lit: t.lit, rule: id})
		}
	}
	for _, mk := range markers {
		id := int32(len(hb.rules))
		hb.rules = append(hb.rules, rule{name: "marker:" + mk.lit, kind: kindMarker, src: srcHeuristic, mark: mk.mark})
		hb.keys = append(hb.keys, acKey{lit: mk.lit, rule: id})
	}
	named := func(name, reason string) int32 {
		hb.rules = append(hb.rules, rule{name: name, reason: reason, kind: kindNone, src: srcHeuristic})
		return int32(len(hb.rules) - 1)
	}
	empty, noBrowser := named(ruleEmpty, ReasonCrawler), named(ruleNoBrowserToken, ReasonCrawler)
	compat, lower := named(ruleCompatible, ReasonCrawler), named(ruleLowercase, ReasonLowercase)
	m := hb.matcher()
	m.heuristics = true
	m.ruleEmpty, m.ruleNoBrowser, m.ruleCompat, m.ruleLower = empty, noBrowser, compat, lower
	return m
}

// matcher builds a cache-less Matcher from the rules collected so far.
func (b *builder) matcher() *Matcher {
	m := &Matcher{
		rules:     b.rules,
		ac:        buildAutomaton(b.keys),
		keyLen:    make([]int32, len(b.keys)),
		keyRule:   make([]int32, len(b.keys)),
		always:    b.always,
		ruleEmpty: noRule, ruleNoBrowser: noRule, ruleCompat: noRule, ruleLower: noRule,
	}
	for i, k := range b.keys {
		m.keyLen[i] = int32(len(k.lit))
		m.keyRule[i] = k.rule
	}
	return m
}

func coversAll(m *Matcher, samples []string) bool {
	for _, s := range samples {
		if _, ok := m.Match([]byte(s)); !ok {
			return false
		}
	}
	return len(samples) > 0
}
