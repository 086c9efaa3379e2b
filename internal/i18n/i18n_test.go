package i18n

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every key is in every language, with the same placeholders, and a plural entry in
// one language is a plural entry in the others.
func TestCataloguesHaveTheSameKeys(t *testing.T) {
	en := For("en")
	for _, l := range Languages {
		c := For(l)
		for _, other := range Languages {
			o := For(other)
			for _, k := range c.Keys() {
				if !o.Has(k) {
					t.Errorf("%q is in catalog/%s.json but not in catalog/%s.json", k, l, other)
				}
			}
		}
		for _, k := range en.Keys() {
			if !c.Has(k) {
				continue
			}
			if (en.entries[k].forms == nil) != (c.entries[k].forms == nil) {
				t.Errorf("%s: plural forms in one language, a plain string in the other", k)
			}
			// A format pattern ("fmt.") picks among the values it is offered.
			if got, want := placeholders(c.entries[k]), placeholders(en.entries[k]); got != want && !strings.HasPrefix(k, "fmt.") {
				t.Errorf("%s in %s has placeholders %s, in en %s", k, l, got, want)
			}
		}
	}
}

var placeholderRE = regexp.MustCompile(`\{[a-z_]+\}`)

func placeholders(e entry) string {
	s := e.text
	if e.forms != nil {
		s = e.forms["other"]
	}
	m := placeholderRE.FindAllString(s, -1)
	seen := map[string]bool{}
	var out []string
	for _, p := range m {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sortStrings(out)
	return strings.Join(out, ",")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Russian plural entries give every integer form (one, few, many); English ones one.
func TestPluralEntriesHaveTheLanguagesForms(t *testing.T) {
	need := map[string][]string{"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}
	for _, l := range Languages {
		c := For(l)
		for _, k := range c.Keys() {
			e := c.entries[k]
			if e.forms == nil {
				continue
			}
			for _, f := range need[l] {
				if e.forms[f] == "" {
					t.Errorf("%s: %s has no %q form", l, k, f)
				}
			}
		}
	}
}

func TestPluralForms(t *testing.T) {
	ru := For("ru")
	for _, tc := range []struct {
		n    int
		form string
		text string
	}{
		{0, "many", "0 кликов"}, {1, "one", "1 клик"}, {2, "few", "2 клика"}, {4, "few", "4 клика"},
		{5, "many", "5 кликов"}, {11, "many", "11 кликов"}, {12, "many", "12 кликов"}, {14, "many", "14 кликов"},
		{21, "one", "21 клик"}, {22, "few", "22 клика"}, {25, "many", "25 кликов"}, {101, "one", "101 клик"},
		{111, "many", "111 кликов"}, {1001, "one", "1\u00a0001 клик"}, {1000000, "many", "1\u00a0000\u00a0000 кликов"},
	} {
		if got := ru.PluralForm(tc.n); got != tc.form {
			t.Errorf("ru form of %d = %s, want %s", tc.n, got, tc.form)
		}
		if got := ru.N("count.clicks", tc.n); got != tc.text {
			t.Errorf("ru %d clicks = %q, want %q", tc.n, got, tc.text)
		}
	}
	en := For("en")
	for _, tc := range []struct {
		n    int
		text string
	}{{0, "0 clicks"}, {1, "1 click"}, {2, "2 clicks"}, {21, "21 clicks"}, {1234, "1,234 clicks"}} {
		if got := en.N("count.clicks", tc.n); got != tc.text {
			t.Errorf("en %d clicks = %q, want %q", tc.n, got, tc.text)
		}
	}
}

func TestNumbersAndMoney(t *testing.T) {
	for _, tc := range []struct{ lang, num, money string }{
		{"en", "1,234,567", "12,345.67 RUB"},
		{"ru", "1\u00a0234\u00a0567", "12\u00a0345,67\u00a0₽"},
	} {
		c := For(tc.lang)
		if got := c.Number(1234567); got != tc.num {
			t.Errorf("%s Number = %q, want %q", tc.lang, got, tc.num)
		}
		if got := c.Money(1234567, "RUB"); got != tc.money {
			t.Errorf("%s Money = %q, want %q", tc.lang, got, tc.money)
		}
	}
	for _, tc := range []struct {
		minor  int64
		code   string
		en, ru string
	}{
		{1500, "JPY", "1,500 JPY", "1\u00a0500\u00a0¥"},
		{1500, "BHD", "1.500 BHD", "1,500\u00a0BHD"},
		{-123456, "USD", "-1,234.56 USD", "-1\u00a0234,56\u00a0$"},
		{1234, "CLF", "0.1234 CLF", "0,1234\u00a0CLF"},
	} {
		if got := For("en").Money(tc.minor, tc.code); got != tc.en {
			t.Errorf("en Money(%d, %s) = %q, want %q", tc.minor, tc.code, got, tc.en)
		}
		if got := For("ru").Money(tc.minor, tc.code); got != tc.ru {
			t.Errorf("ru Money(%d, %s) = %q, want %q", tc.minor, tc.code, got, tc.ru)
		}
	}
	if got, want := For("ru").Percent(0.1234), "12,3\u00a0%"; got != want {
		t.Errorf("ru Percent = %q, want %q", got, want)
	}
	if got, want := For("en").Percent(0.1234), "12.3%"; got != want {
		t.Errorf("en Percent = %q, want %q", got, want)
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct{ cookie, accept, want string }{
		{"", "", "en"},
		{"", "ru-RU,ru;q=0.9,en;q=0.8", "ru"},
		{"", "en-GB,en;q=0.9,ru;q=0.5", "en"},
		{"", "uk-UA,uk;q=0.9", "en"},
		{"", "de-DE", "en"},
		{"", "garbage;;;", "en"},
		{"en", "ru", "en"},
		{"ru", "en", "ru"},
		{"xx", "ru", "ru"},
	} {
		if got := Negotiate(tc.cookie, tc.accept); got != tc.want {
			t.Errorf("Negotiate(%q, %q) = %s, want %s", tc.cookie, tc.accept, got, tc.want)
		}
	}
}

func TestVerdictsAndReasons(t *testing.T) {
	ru := For("ru")
	if got := ru.Verdict("bot"); !strings.Contains(got, "Бот") {
		t.Errorf("ru bot verdict: %q", got)
	}
	if got := ru.Verdict("<b>"); got != ru.T("verdict.unknown") {
		t.Errorf("unknown verdict: %q", got)
	}
	if got := ru.Reason("ua:crawler"); !strings.Contains(got, "робот") {
		t.Errorf("ru reason: %q", got)
	}
	if got := ru.Reason("fetch:dest=video"); !strings.Contains(got, "(dest=video)") {
		t.Errorf("ru family reason: %q", got)
	}
	if got := For("en").Reason("zzz:x"); got != "Unrecognised reason" {
		t.Errorf("unknown reason: %q", got)
	}
}

// Pages name catalogue keys as {{.T "key"}}, {{.N "key" n}}, {{$.UI.T "key"}} in
// templates and T("key") / N("key", n) in scripts. Every named key must be in the
// catalogue: a missing one would show as the key itself.
func TestPagesReferenceOnlyCatalogueKeys(t *testing.T) {
	root := filepath.Join("..", "..")
	refs := regexp.MustCompile(`(?:\.T|\.N|\bT|\bN)\(?\s*"([a-z_]+(?:\.[a-z0-9_:=-]+)+)"`)
	// Any other literal naming a key of the catalogue's families (links.err.partner
	// handed to a helper, "dash.js.valid" in a script); file names are not keys.
	literals := regexp.MustCompile(`"((?:app|nav|common|count|links|materials|builder|tokens|dash|verdict|reason|reason_family|login|fmt)\.[a-z0-9_]+(?:\.[a-z0-9_:=-]+)*)"`)
	files := regexp.MustCompile(`\.(css|js|html|png|svg|json|go)$`)
	en := For("en")
	found := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".run", "node_modules", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if ext != ".html" && ext != ".js" && ext != ".go" {
			return nil
		}
		if strings.HasSuffix(p, "_test.go") || strings.Contains(p, filepath.Join("internal", "i18n")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if ext == ".go" && !strings.Contains(string(b), "i18n") {
			return nil
		}
		for _, m := range refs.FindAllStringSubmatch(string(b), -1) {
			found++
			if !en.Has(m[1]) {
				t.Errorf("%s names %q, which is not in the catalogue", p, m[1])
			}
		}
		for _, m := range literals.FindAllStringSubmatch(string(b), -1) {
			if !files.MatchString(m[1]) && !en.Has(m[1]) {
				t.Errorf("%s names %q, which is not in the catalogue", p, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 20 {
		t.Fatalf("only %d catalogue references found in the pages: is the pattern still right?", found)
	}
}
