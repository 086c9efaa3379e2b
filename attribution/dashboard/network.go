package dashboard

//go:generate go run gen_countries.go

import (
	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/i18n"
)

// networkLabel names a row of the country and network breakdowns in the page's language
// ("" for the other dimensions): a country by its name and ISO code ("Germany (DE)"), a
// network by its AS number and organisation ("AS3320 · Deutsche Telekom AG"); an
// unknown value and the "other" row by the catalogue's words.
func networkLabel(c *i18n.Catalogue, dim string, b analytics.BreakdownRow) string {
	if dim != "country" && dim != "network" {
		return ""
	}
	switch {
	case b.Key == analytics.OtherKey:
		return c.T("dash.key.other")
	case b.Key == "" || dim == "network" && b.Key == "0":
		return c.T("dash.key.unknown")
	case dim == "network":
		if b.Name != "" {
			return "AS" + b.Key + " · " + b.Name
		}
		return "AS" + b.Key
	}
	return countryName(c.Lang(), b.Key)
}

// countryName is the name of the country with ISO 3166-1 alpha-2 code in language lang
// and the code ("Германия (DE)"), from countries.go (CLDR's names); a code the table does
// not hold reads as itself.
func countryName(lang, code string) string {
	names, ok := countryNames[code]
	if !ok {
		return code
	}
	name := names[0]
	if lang == "ru" {
		name = names[1]
	}
	return name + " (" + code + ")"
}
