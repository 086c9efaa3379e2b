package analytics

import (
	"testing"

	"github.com/refedge/refedge/internal/i18n"
)

// Partner pages explain verdicts and reasons from the message catalogue, in every
// language: each verdict, reason and reason family explained here has its entry there.
func TestCatalogueExplainsEveryVerdictAndReason(t *testing.T) {
	for _, l := range i18n.Languages {
		c := i18n.For(l)
		for v := range verdictTexts {
			if !c.Has("verdict." + v) {
				t.Errorf("%s: no verdict.%s in the catalogue", l, v)
			}
		}
		for code := range reasonTexts {
			if !c.Has("reason." + code) {
				t.Errorf("%s: no reason.%s in the catalogue", l, code)
			}
		}
		for f := range reasonFamilies {
			if !c.Has("reason_family." + f) {
				t.Errorf("%s: no reason_family.%s in the catalogue", l, f)
			}
		}
	}
	// The English catalogue says what the API says.
	en := i18n.For("en")
	for v, want := range verdictTexts {
		if got := en.Verdict(v); got != want {
			t.Errorf("verdict %s: catalogue %q, API %q", v, got, want)
		}
	}
	for code, want := range reasonTexts {
		if got := en.Reason(code); got != want {
			t.Errorf("reason %s: catalogue %q, API %q", code, got, want)
		}
	}
	for f := range reasonFamilies {
		code := f + ":some-detail"
		if got, want := en.Reason(code), ReasonText(code); got != want {
			t.Errorf("reason family %s: catalogue %q, API %q", f, got, want)
		}
	}
}
