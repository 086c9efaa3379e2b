package crawlers

import (
	"regexp/syntax"
	"slices"
	"unicode/utf8"
)

// litSet describes what a regexp says about literal text, in ASCII-lowercased form
// (the form the automaton scans). With exact set, strs are all the strings the
// regexp can match; otherwise every match contains at least one of strs. ok false
// means nothing useful is known.
type litSet struct {
	strs  []string
	exact bool
	ok    bool
}

const (
	maxLitSet   = 32 // largest alternative set kept as required literals
	maxClassLen = 8  // largest character class expanded into single characters
)

var unknown = litSet{}

func exactSet(strs ...string) litSet { return litSet{strs: strs, exact: true, ok: true} }

// requiredLiterals returns lowercased literals of which every match of re contains
// one, or ok false when the regexp has no usable literal (it then has to be run on
// every User-Agent the automaton does not settle).
func requiredLiterals(re *syntax.Regexp) (strs []string, ok bool) {
	s := analyze(re)
	if !s.ok || minLen(s.strs) == 0 {
		return nil, false
	}
	return dedupe(s.strs), true
}

func analyze(re *syntax.Regexp) litSet {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return exactSet("")
	case syntax.OpLiteral:
		return literalSet(re)
	case syntax.OpCharClass:
		return classSet(re.Rune)
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpQuest:
		return optional(analyze(re.Sub[0]))
	case syntax.OpPlus:
		s := analyze(re.Sub[0])
		s.exact = false
		return s
	case syntax.OpRepeat:
		s := analyze(re.Sub[0])
		switch {
		case re.Min == 0 && re.Max == 1:
			return optional(s)
		case re.Min == 0:
			return unknown
		case re.Min == 1 && re.Max == 1:
			return s
		}
		s.exact = false
		return s
	case syntax.OpConcat:
		return concatSet(re.Sub)
	case syntax.OpAlternate:
		return alternateSet(re.Sub)
	}
	// OpStar, OpAnyChar, OpAnyCharNotNL, OpNoMatch: nothing required.
	return unknown
}

func literalSet(re *syntax.Regexp) litSet {
	b := make([]byte, 0, len(re.Rune))
	for _, r := range re.Rune {
		if re.Flags&syntax.FoldCase != 0 && (r >= utf8.RuneSelf || r == 'k' || r == 'K' || r == 's' || r == 'S') {
			// Case folding of k and s also reaches U+212A and U+017F, which the
			// ASCII-lowercasing automaton would not see as k or s.
			return unknown
		}
		b = utf8.AppendRune(b, lowerRune(r))
	}
	return exactSet(string(b))
}

func classSet(ranges []rune) litSet {
	n := 0
	for i := 0; i < len(ranges); i += 2 {
		n += int(ranges[i+1]-ranges[i]) + 1
		if n > maxClassLen*2 { // both cases of maxClassLen letters
			return unknown
		}
	}
	var strs []string
	for i := 0; i < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			strs = append(strs, string(utf8.AppendRune(nil, lowerRune(r))))
		}
	}
	strs = dedupe(strs)
	if len(strs) > maxClassLen {
		return unknown
	}
	return exactSet(strs...)
}

func optional(s litSet) litSet {
	if !s.ok || !s.exact || len(s.strs)+1 > maxLitSet {
		return unknown
	}
	return exactSet(append(slices.Clone(s.strs), "")...)
}

// concatSet keeps the cross product of runs of exact parts and picks, among those
// runs and the required sets of inexact parts, the set whose shortest string is
// longest: the most selective literal for the automaton.
func concatSet(subs []*syntax.Regexp) litSet {
	var best litSet
	consider := func(s litSet) {
		if !s.ok || minLen(s.strs) == 0 {
			return
		}
		if !best.ok || minLen(s.strs) > minLen(best.strs) ||
			(minLen(s.strs) == minLen(best.strs) && len(s.strs) < len(best.strs)) {
			best = litSet{strs: dedupe(s.strs), ok: true}
		}
	}
	run := exactSet("")
	allExact := true
	for _, sub := range subs {
		s := analyze(sub)
		if s.ok && s.exact {
			if p := cross(run.strs, s.strs); p != nil {
				run.strs = p
				continue
			}
			allExact = false
			consider(run)
			run = s
			continue
		}
		allExact = false
		consider(run)
		run = exactSet("")
		consider(s)
	}
	if allExact {
		return exactSet(dedupe(run.strs)...)
	}
	consider(run)
	return best
}

func alternateSet(subs []*syntax.Regexp) litSet {
	out := litSet{exact: true, ok: true}
	for _, sub := range subs {
		s := analyze(sub)
		if !s.ok {
			return unknown
		}
		out.exact = out.exact && s.exact
		out.strs = append(out.strs, s.strs...)
	}
	out.strs = dedupe(out.strs)
	if len(out.strs) > maxLitSet {
		return unknown
	}
	return out
}

// cross returns every a+b, or nil when the product would exceed maxLitSet.
func cross(as, bs []string) []string {
	if len(as)*len(bs) > maxLitSet {
		return nil
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out = append(out, a+b)
		}
	}
	return out
}

func minLen(strs []string) int {
	if len(strs) == 0 {
		return 0
	}
	n := len(strs[0])
	for _, s := range strs[1:] {
		n = min(n, len(s))
	}
	return n
}

func dedupe(strs []string) []string {
	out := slices.Clone(strs)
	slices.Sort(out)
	return slices.Compact(out)
}

func lowerRune(r rune) rune {
	if 'A' <= r && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		b[i] = lowerTable[c]
	}
	return string(b)
}

// lowerTable maps a byte to its ASCII lowercase; other bytes map to themselves.
var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(lowerRune(rune(i)))
	}
	return t
}()
