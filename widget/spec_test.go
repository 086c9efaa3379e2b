package widget

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/i18n"
)

var testLimits = specLimits{sizes: NewDefaultConfig().Sizes, maxKwork: 24}

func TestParseSpec(t *testing.T) {
	ok := func(body, want string) {
		t.Helper()
		s, err := parseSpec([]byte(body), testLimits)
		if err != nil {
			t.Fatalf("parseSpec(%s): %v", body, err)
		}
		got := strings.Join([]string{s.Category, strings.Join(s.KworkIDs, ","), s.Size, s.Theme, s.Accent,
			itoa(s.Cards), itoa(s.RotationSeconds), s.Language, itoa(s.w), itoa(s.h)}, "|")
		if got != want {
			t.Fatalf("parseSpec(%s)\n got %s\nwant %s", body, got, want)
		}
	}
	ok(`{"category":"design"}`, "design||300x250|light|#1f7a4d|6|4|en|300|250")
	ok(`{"category":"design/logo","size":"728x90","theme":"dark","accent":"#FFAA00","cards":12,"rotation_seconds":1,"language":"ru"}`,
		"design/logo||728x90|dark|#ffaa00|12|1|ru|728|90")
	ok(`{"kwork_ids":["1","a-b_C"],"size":"88x31"}`, "|1,a-b_C|88x31|light|#1f7a4d|6|4|en|88|31")
	ok(`{"category":"x","size":"1200x1200"}`, "x||1200x1200|light|#1f7a4d|6|4|en|1200|1200")
	ok(`{"category":"x","size":"100x60"}`, "x||100x60|light|#1f7a4d|6|4|en|100|60")
	ok(`{"category":"x","name":"  Sidebar  "}  `, "x||300x250|light|#1f7a4d|6|4|en|300|250")

	bad := func(body, wantErr string) {
		t.Helper()
		_, err := parseSpec([]byte(body), testLimits)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("parseSpec(%s) = %v; want an error containing %q", body, err, wantErr)
		}
	}
	bad(``, "invalid JSON")
	bad(`{"category":"x"} {}`, "trailing data")
	bad(`{"category":"x","evil":1}`, "unknown field")
	bad(`{}`, "category or kwork_ids is required")
	bad(`{"category":"x","kwork_ids":["1"]}`, "not both")
	bad(`{"category":"{slot}"}`, "category must match")
	bad(`{"kwork_ids":["1","1"]}`, "listed twice")
	bad(`{"kwork_ids":["<script>"]}`, "every kwork id")
	bad(`{"kwork_ids":[`+strings.Repeat(`"k",`, 30)+`"z"]}`, "at most 24")
	bad(`{"category":"x","size":"99x60"}`, "size must be WxH")
	bad(`{"category":"x","size":"1201x60"}`, "size must be WxH")
	bad(`{"category":"x","size":"300x59"}`, "size must be WxH")
	bad(`{"category":"x","size":"0300x250"}`, "size must be WxH")
	bad(`{"category":"x","size":"300X250"}`, "size must be WxH")
	bad(`{"category":"x","size":"-1x250"}`, "size must be WxH")
	bad(`{"category":"x","theme":"neon"}`, "theme must be")
	bad(`{"category":"x","accent":"red"}`, "accent must be")
	bad(`{"category":"x","accent":"#12345g"}`, "accent must be")
	bad(`{"category":"x","accent":"#123;}x"}`, "accent must be")
	bad(`{"category":"x","cards":13}`, "cards must be 1..12")
	bad(`{"category":"x","cards":-1}`, "cards must be 1..12")
	bad(`{"category":"x","rotation_seconds":61}`, "rotation_seconds must be")
	bad(`{"category":"x","language":"de"}`, "language must be")
	bad(`{"category":"x","name":"a\u0000b"}`, "name must be")
	bad(`{"category":"x","cards":1.5}`, "invalid JSON")
	// Every problem is reported at once.
	bad(`{"theme":"neon","cards":99}`, "category or kwork_ids is required\ntheme must be light or dark\ncards must be 1..12")
}

func TestSpecFromQuery(t *testing.T) {
	q, _ := url.ParseQuery("kwork_ids=a,%20b,,c&size=468x60&cards=3&rotation_seconds=2&theme=dark&accent=%23000000&language=ru")
	s, err := specFromQuery(q, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.KworkIDs, ",") != "a,b,c" || s.w != 468 || s.Cards != 3 || s.RotationSeconds != 2 || s.Language != "ru" {
		t.Fatalf("specFromQuery = %+v", s)
	}
	q, _ = url.ParseQuery("category=x&cards=many")
	if _, err := specFromQuery(q, testLimits); err == nil || !strings.Contains(err.Error(), "cards must be a number") {
		t.Fatalf("specFromQuery(cards=many) = %v", err)
	}
}

func TestProgramSizesAccepted(t *testing.T) {
	tight := SizeLimits{MinWidth: 500, MaxWidth: 500, MinHeight: 500, MaxHeight: 500}
	for _, sz := range ProgramSizes {
		if _, _, err := parseSize(sz, tight); err != nil {
			t.Errorf("program size %s refused: %v", sz, err)
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// Every reason a spec is refused is a catalogue entry in every language with its
// placeholders filled, and the API's English text is the entries' English texts.
func TestSpecProblemsInEveryLanguage(t *testing.T) {
	placeholder := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, body := range []string{
		``, `{"category":"x"} {}`, `{}`, `{"category":"x","kwork_ids":["1"]}`, `{"category":"{slot}"}`,
		`{"kwork_ids":["1","1"]}`, `{"kwork_ids":["<script>"]}`, `{"kwork_ids":[` + strings.Repeat(`"k",`, 30) + `"z"]}`,
		`{"category":"x","size":"99x60"}`, `{"category":"x","theme":"neon","accent":"red","cards":13,"rotation_seconds":61}`,
		`{"category":"x","language":"de","name":"` + strings.Repeat("n", 200) + `"}`, strings.Repeat(" ", maxSpecBody+1),
	} {
		_, err := parseSpec([]byte(body), testLimits)
		ps := SpecProblems(err)
		if err == nil || len(ps) == 0 {
			t.Fatalf("parseSpec(%.40s) = %v with problems %v", body, err, ps)
		}
		var english []string
		for _, p := range ps {
			for _, lang := range i18n.Languages {
				c := i18n.For(lang)
				text := c.T(p.Key, p.pairs()...)
				if !c.Has(p.Key) || placeholder.MatchString(text) {
					t.Errorf("%s in %s: %q", p.Key, lang, text)
				}
			}
			if ru := i18n.For("ru").T(p.Key, p.pairs()...); ru == p.Error() {
				t.Errorf("%s reads the same in Russian: %q", p.Key, ru)
			}
			english = append(english, p.Error())
		}
		if got := strings.Join(english, "\n"); got != err.Error() {
			t.Errorf("parseSpec(%.40s): the API says %q, its problems %q", body, err.Error(), got)
		}
	}
	if _, err := specFromQuery(url.Values{"category": {"x"}, "cards": {"many"}}, testLimits); len(SpecProblems(err)) != 1 {
		t.Errorf("specFromQuery(cards=many) = %v", err)
	}
}
