package crawlers

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

// TestListInstances checks the embedded list against itself: every pattern should match
// at least one of its own instances, and the matcher should flag every instance. It
// reports, with reasons, the patterns and instances for which that does not hold.
func TestListInstances(t *testing.T) {
	entries, err := parseList(listJSON)
	if err != nil {
		t.Fatal(err)
	}
	m := newTestMatcher(t, Options{CacheSize: -1})
	st := m.Stats()
	t.Logf("list: %d patterns, %d compiled, %d overridden, %d dropped, %d skipped; %d built-in agents (%d redundant with the list); %d unindexed regexps; %d keys, %d states",
		st.ListPatterns, st.ListCompiled, st.ListOverridden, st.ListDropped, len(st.ListSkipped),
		st.ExtraAgents, st.ExtraRedundant, st.Unindexed, st.Keys, st.States)
	for _, s := range st.ListSkipped {
		t.Logf("  skipped %q: %s", s.Pattern, s.Reason)
	}

	var noInstances, noOwnMatch, unflagged int
	for _, e := range entries {
		if len(e.Instances) == 0 {
			noInstances++
			continue
		}
		pattern := e.Pattern
		if o, ok := listOverrides[e.Pattern]; ok {
			if o.replacement == "" {
				t.Logf("  dropped %q (%s)", e.Pattern, o.why)
				continue
			}
			pattern = o.replacement
		} else if pattern, err = jsToRE2(e.Pattern); err != nil {
			continue // reported above
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			t.Errorf("pattern %q compiled for the matcher but not here: %v", e.Pattern, err)
			continue
		}
		own := false
		for _, in := range e.Instances {
			if re.MatchString(in) {
				own = true
			}
			if _, ok := m.Match([]byte(in)); !ok {
				unflagged++
				t.Logf("  instance not flagged (pattern %q, %s): %s", e.Pattern, whyUnflagged(e.Pattern, in), in)
			}
		}
		if !own {
			noOwnMatch++
			t.Logf("  pattern %q matches none of its %d instances (list data error), e.g. %q", e.Pattern, len(e.Instances), e.Instances[0])
		}
	}
	t.Logf("patterns without instances: %d; patterns matching none of their instances: %d; instances not flagged: %d",
		noInstances, noOwnMatch, unflagged)
	if noOwnMatch > len(entries)/100 {
		t.Errorf("%d patterns match none of their own instances (more than 1%%)", noOwnMatch)
	}
	if len(st.ListSkipped) > len(entries)/100 {
		t.Errorf("%d patterns skipped (more than 1%%)", len(st.ListSkipped))
	}
}

// whyUnflagged explains an instance the matcher does not flag.
func whyUnflagged(pattern, instance string) string {
	if o, ok := listOverrides[pattern]; ok {
		return "narrowed: " + o.why
	}
	for _, loc := range regexp.MustCompile(mustRE2(pattern)).FindAllStringIndex(instance, -1) {
		if inAndroidModel([]byte(instance), loc[0], loc[1]) {
			return "the match is a phone model or build id"
		}
	}
	return "unexplained"
}

func mustRE2(p string) string {
	s, err := jsToRE2(p)
	if err != nil {
		panic(err)
	}
	return s
}

func TestJSToRE2(t *testing.T) {
	f := func(js, want string, wantErr error) {
		t.Helper()
		got, err := jsToRE2(js)
		if !errors.Is(err, wantErr) {
			t.Fatalf("jsToRE2(%q) error = %v, want %v", js, err, wantErr)
		}
		if err == nil && got != want {
			t.Fatalf("jsToRE2(%q) = %q, want %q", js, got, want)
		}
	}
	f(`Googlebot\/`, `Googlebot\/`, nil)
	f(`^curl`, `^curl`, nil)
	f(`caf\u00e9bot`, `caf\x{00e9}bot`, nil)
	f(`\u{1F916}bot`, `\x{1F916}bot`, nil)
	f(`a\\u0041`, `a\\u0041`, nil)
	f(`(?<name>bot)`, `(?<name>bot)`, nil)
	f(`bot(?!tle)`, "", errUnsupported)
	f(`(?=x)bot`, "", errUnsupported)
	f(`(?<!cu)bot`, "", errUnsupported)
	f(`(?<=x)bot`, "", errUnsupported)
	f(`(bot)\1`, "", errUnsupported)
}

// TestSkippedPatternsAreCounted feeds the builder a list with patterns RE2 rejects.
func TestSkippedPatternsAreCounted(t *testing.T) {
	list := `[{"pattern":"GoodBot","instances":["GoodBot/1.0"]},
		{"pattern":"(?<!cu)bot","instances":["somebot"]},
		{"pattern":"x(y)\\1","instances":["xyy"]},
		{"pattern":"a|","instances":[]},
		{"pattern":"[","instances":[]}]`
	var logs bytes.Buffer
	m, err := newMatcher([]byte(list), Options{CacheSize: -1, NoHeuristics: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "skipped=4") {
		t.Fatalf("expected a warning counting 4 skipped patterns, got %q", logs.String())
	}
	st := m.Stats()
	if st.ListCompiled != 1 || len(st.ListSkipped) != 4 {
		t.Fatalf("compiled %d, skipped %v; want 1 compiled, 4 skipped", st.ListCompiled, st.ListSkipped)
	}
	for _, s := range st.ListSkipped {
		if s.Reason == "" {
			t.Fatalf("skipped pattern without reason: %+v", s)
		}
	}
	if rule, ok := m.Match([]byte("Mozilla/5.0 GoodBot/1.0")); !ok || rule != "GoodBot" {
		t.Fatalf("Match = %q, %v; want GoodBot", rule, ok)
	}
}

// TestExtraAgents checks the built-in agents: each pattern matches its own samples, and
// the matcher flags every sample (by the list when the agent is redundant).
func TestExtraAgents(t *testing.T) {
	m := newTestMatcher(t, Options{CacheSize: -1})
	for _, x := range extraAgents {
		re := regexp.MustCompile(x.Pattern)
		if len(x.Samples) == 0 {
			t.Errorf("agent %q has no sample", x.Pattern)
		}
		for _, s := range x.Samples {
			if !re.MatchString(s) {
				t.Errorf("agent %q does not match its sample %q", x.Pattern, s)
			}
			if _, ok := m.Match([]byte(s)); !ok {
				t.Errorf("sample of agent %q not flagged: %q", x.Pattern, s)
			}
		}
	}
}
