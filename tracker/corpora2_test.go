package tracker_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/refedge/refedge/attribution/event"
)

// Targets of the second round (docs/traffic-quality-evaluation.md): bots are refused,
// with the headers of the browser they claim, at least this often on the held-out part
// of the bot corpora, which no rule was tuned on; real browsers and in-app browsers are
// refused at most this often.
const (
	heldOutMinRecall     = 0.99
	maxFalseRefusalShare = 0.002
)

// labelledUA is a corpus line: which corpus part, source and family, and the UA.
type labelledUA struct {
	part, source, family, ua string
}

// readLabelledCorpus reads tracker/crawlers/testdata/<name>: source<TAB>family<TAB>UA
// lines (gzip when .gz), app<TAB>UA lines with # comments, or bare UA lines.
func readLabelledCorpus(t *testing.T, part, name string) []labelledUA {
	t.Helper()
	f, err := os.Open(filepath.Join("crawlers", "testdata", name))
	if err != nil {
		t.Fatalf("cannot open corpus (see tracker/crawlers/testdata/SOURCES.md): %v", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	var out []labelledUA
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		p := strings.Split(line, "\t")
		switch len(p) {
		case 3:
			out = append(out, labelledUA{part, p[0], p[1], p[2]})
		case 2:
			out = append(out, labelledUA{part, "handwritten", p[0], p[1]})
		default:
			out = append(out, labelledUA{part, name, "all", line})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("corpus %s has only %d lines", name, len(out))
	}
	return out
}

// TestHeldOutCorporaThroughClickPath sends the second-round corpora through the real
// click path, each UA with the headers the browser it claims sends (navigationHeaders:
// the worst case, where only the User-Agent can tell), and asserts the targets: recall
// on the held-out bot part, false refusals on real browsers and on in-app browsers. It
// logs recall or false refusals per family for every part; misses are listed with
// their UA for the tuning part only.
func TestHeldOutCorporaThroughClickPath(t *testing.T) {
	var set []labelledUA
	set = append(set, readLabelledCorpus(t, "bots-tuning", "bots-tune.tsv.gz")...)
	set = append(set, readLabelledCorpus(t, "bots-held-out", "bots-heldout.tsv.gz")...)
	set = append(set, readLabelledCorpus(t, "in-app", "inapp-fixtures.tsv.gz")...)
	set = append(set, readLabelledCorpus(t, "in-app", "inapp-handwritten.tsv")...)
	set = append(set, readLabelledCorpus(t, "browsers", "browsers-top.tsv.gz")...)
	for _, ua := range readUACorpus(t, "browsers-user-agents.txt.gz") {
		set = append(set, labelledUA{"browsers", "npm user-agents", "all", ua})
	}
	cases := make([]corpusCase, len(set))
	for i, x := range set {
		group, hdr := navigationHeaders(x.ua)
		cases[i] = corpusCase{ua: x.ua, crawler: strings.HasPrefix(x.part, "bots"), group: group, hdr: hdr}
	}
	got, elapsed := runClickPath(t, cases)
	t.Logf("%d requests in %v", len(cases), elapsed.Round(1e6))

	type tally struct{ n, refused int }
	parts := map[string]*tally{}
	families := map[string]*tally{}
	reasons := map[string]map[string]int{}
	for i, x := range set {
		r := got[strconv.Itoa(i)]
		if cases[i].gotRef != (r.verdict == event.Valid) {
			t.Errorf("%q: verdict %s but rfe_ref set: %v", x.ua, r.verdict, cases[i].gotRef)
		}
		refused := r.verdict != event.Valid
		for _, c := range []struct {
			m map[string]*tally
			k string
		}{{parts, x.part}, {families, x.part + " / " + x.source + " / " + x.family}} {
			if c.m[c.k] == nil {
				c.m[c.k] = &tally{}
			}
			c.m[c.k].n++
			if refused {
				c.m[c.k].refused++
			}
		}
		if reasons[x.part] == nil {
			reasons[x.part] = map[string]int{}
		}
		for _, reason := range r.reasons {
			reasons[x.part][reason]++
		}
		switch {
		case cases[i].crawler && !refused && x.part == "bots-tuning":
			t.Logf("  missed (tuning): %s / %s: %s", x.source, x.family, x.ua)
		case cases[i].crawler && !refused:
			t.Logf("  missed (held out): %s / %s", x.source, x.family)
		case !cases[i].crawler && refused:
			t.Logf("  false refusal (%s): %s %v: %s", x.part, r.verdict, r.reasons, x.ua)
		}
	}
	keys := make([]string, 0, len(families))
	for k := range families {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := families[k]
		t.Logf("  %-80s %4d/%-4d refused (%.1f%%)", k, f.refused, f.n, 100*float64(f.refused)/float64(f.n))
	}
	for _, p := range []string{"bots-tuning", "bots-held-out", "in-app", "browsers"} {
		t.Logf("%s: %d/%d refused (%.2f%%); reasons: %s", p, parts[p].refused, parts[p].n,
			100*float64(parts[p].refused)/float64(parts[p].n), histogram(reasons[p], func(s string) string { return s }))
	}
	share := func(p string) float64 { return float64(parts[p].refused) / float64(parts[p].n) }
	if r := share("bots-held-out"); r < heldOutMinRecall {
		t.Errorf("held-out bot recall %.2f%% < %.0f%%", 100*r, 100*heldOutMinRecall)
	}
	for _, p := range []string{"browsers", "in-app"} {
		if r := share(p); r > maxFalseRefusalShare {
			t.Errorf("%s false refusals %.2f%% > %.1f%%", p, 100*r, 100*maxFalseRefusalShare)
		}
	}
}
