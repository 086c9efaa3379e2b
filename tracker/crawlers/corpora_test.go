package crawlers

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// The corpora in testdata are independent of the embedded list; SOURCES.md says where
// they come from and deploy/scripts/refresh-ua-corpora.sh regenerates them.
const (
	minCrawlerRecall  = 0.99  // of CrawlerDetect's crawler fixture
	maxBrowserFPRate  = 0.005 // of real-traffic browser UAs (npm user-agents)
	maxDevicesFPRate  = 0.02  // of CrawlerDetect's "not a crawler" fixture, see below
	maxReportedMisses = 100
)

func TestCorpora(t *testing.T) {
	full := newTestMatcher(t, Options{CacheSize: -1})
	listAndAgents := newTestMatcher(t, Options{CacheSize: -1, NoHeuristics: true})

	crawlers := readCorpus(t, "crawlers-crawlerdetect.txt.gz")
	browsers := readCorpus(t, "browsers-user-agents.txt.gz")
	devices := readCorpus(t, "devices-crawlerdetect.txt.gz")

	// Crawler recall, with the share each layer contributes.
	bySource := map[ruleSource]int{}
	var misses []string
	for _, ua := range crawlers {
		r := full.match([]byte(ua))
		if r == noRule {
			misses = append(misses, ua)
			continue
		}
		bySource[full.rules[r].src]++
	}
	recall := 1 - float64(len(misses))/float64(len(crawlers))
	t.Logf("crawler recall on CrawlerDetect fixture: %d/%d = %.2f%% (list %d, built-in agents %d, heuristics %d; list+agents alone %.2f%%)",
		len(crawlers)-len(misses), len(crawlers), 100*recall,
		bySource[srcList], bySource[srcExtra], bySource[srcHeuristic],
		100*matchedShare(listAndAgents, crawlers))
	for i, ua := range misses {
		if i == maxReportedMisses {
			t.Logf("  ... %d more", len(misses)-i)
			break
		}
		t.Logf("  missed crawler: %s", ua)
	}
	if recall < minCrawlerRecall {
		t.Errorf("crawler recall %.2f%% < %.2f%%", 100*recall, 100*minCrawlerRecall)
	}

	// Real browsers: every false positive is listed.
	fp := falsePositives(full, browsers)
	rate := float64(len(fp)) / float64(len(browsers))
	t.Logf("browser false positives (npm user-agents): %d/%d = %.3f%%", len(fp), len(browsers), 100*rate)
	for _, line := range fp {
		t.Logf("  false positive: %s", line)
	}
	if rate > maxBrowserFPRate {
		t.Errorf("browser false-positive rate %.3f%% > %.3f%%", 100*rate, 100*maxBrowserFPRate)
	}

	// CrawlerDetect's "devices" fixture also holds legacy browsers, feature phones and
	// the HTTP clients of native apps (Dalvik, CFNetwork), which this package counts as
	// non-browser traffic on purpose (no browser token); it is reported by rule and
	// bounded loosely to catch a heuristic that starts hitting real browsers.
	fp = falsePositives(full, devices)
	rate = float64(len(fp)) / float64(len(devices))
	t.Logf("flagged in CrawlerDetect devices fixture: %d/%d = %.2f%%", len(fp), len(devices), 100*rate)
	for _, line := range summarize(full, devices) {
		t.Logf("  %s", line)
	}
	if rate > maxDevicesFPRate {
		t.Errorf("devices flagged %.2f%% > %.2f%%", 100*rate, 100*maxDevicesFPRate)
	}
}

func newTestMatcher(t testing.TB, opts Options) *Matcher {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func readCorpus(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("cannot open corpus (regenerate with deploy/scripts/refresh-ua-corpora.sh): %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("cannot read %s: %v", name, err)
	}
	var out []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("cannot read %s: %v", name, err)
	}
	if len(out) < 1000 {
		t.Fatalf("corpus %s has only %d lines", name, len(out))
	}
	return out
}

func matchedShare(m *Matcher, uas []string) float64 {
	n := 0
	for _, ua := range uas {
		if _, ok := m.Match([]byte(ua)); ok {
			n++
		}
	}
	return float64(n) / float64(len(uas))
}

func falsePositives(m *Matcher, uas []string) []string {
	var out []string
	for _, ua := range uas {
		if rule, ok := m.Match([]byte(ua)); ok {
			out = append(out, fmt.Sprintf("%s  [%s]", ua, rule))
		}
	}
	return out
}

// summarize counts matches by rule, with one example each, most frequent first.
func summarize(m *Matcher, uas []string) []string {
	count := map[string]int{}
	example := map[string]string{}
	for _, ua := range uas {
		if rule, ok := m.Match([]byte(ua)); ok {
			count[rule]++
			if _, seen := example[rule]; !seen {
				example[rule] = ua
			}
		}
	}
	rules := make([]string, 0, len(count))
	for r := range count {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool {
		if count[rules[i]] != count[rules[j]] {
			return count[rules[i]] > count[rules[j]]
		}
		return rules[i] < rules[j]
	})
	out := make([]string, 0, len(rules))
	for _, r := range rules {
		out = append(out, fmt.Sprintf("%5d %-40s e.g. %s", count[r], r, example[r]))
	}
	return out
}
