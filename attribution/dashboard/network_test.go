package dashboard

import (
	"testing"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/i18n"
)

func TestNetworkLabel(t *testing.T) {
	f := func(lang, dim, key, name, want string) {
		t.Helper()
		if got := networkLabel(i18n.For(lang), dim, analytics.BreakdownRow{Key: key, Name: name}); got != want {
			t.Errorf("%s %s %q %q: %q, want %q", lang, dim, key, name, got, want)
		}
	}
	f("en", "country", "DE", "", "Germany (DE)")
	f("ru", "country", "DE", "", "Германия (DE)")
	f("ru", "country", "", "", "неизвестно")
	f("en", "country", "other", "", "Other")
	f("en", "country", "ZZ", "", "ZZ")   // not a country
	f("en", "country", "<b>", "", "<b>") // not a code: shown as itself (the template escapes it)
	f("en", "network", "3320", "Deutsche Telekom AG", "AS3320 · Deutsche Telekom AG")
	f("ru", "network", "3320", "", "AS3320")
	f("ru", "network", "0", "", "неизвестно")
	f("ru", "network", "other", "", "Другие")
	f("en", "source", "DE", "", "") // other dimensions keep their key
}

// countries.go says what golang.org/x/text's CLDR data says (go generate rewrites it).
func TestCountryNamesFromCLDR(t *testing.T) {
	en, ru := display.Regions(language.English), display.Regions(language.Russian)
	if len(countryNames) < 240 {
		t.Fatalf("%d countries in the table, want every ISO 3166-1 country", len(countryNames))
	}
	for code, names := range countryNames {
		r := language.MustParseRegion(code)
		if en.Name(r) != names[0] || ru.Name(r) != names[1] {
			t.Errorf("%s: table %q, CLDR %q %q", code, names, en.Name(r), ru.Name(r))
		}
	}
}
