// Package i18n holds the partner pages' words in Russian and English: one message
// catalogue per language (catalog/en.json, catalog/ru.json, embedded), the choice of a
// request's language (a remembered choice in the rfe_lang cookie, else Accept-Language,
// else English), CLDR plural forms and locale-aware numbers and money from
// golang.org/x/text.
//
// A catalogue maps a key to a string, or to an object of CLDR plural forms ("one",
// "few", "many", "other") for a count. Strings may hold named placeholders, {name},
// filled by the caller; {n} in a plural form is the count, formatted for the language.
// Text goes through html/template like any other data, so placeholders never need to
// be trusted.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/currency"
	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	money "github.com/refedge/refedge/internal/currency"
)

//go:embed catalog/*.json
var catalogFS embed.FS

// Languages are the supported languages, the default first.
var Languages = []string{"en", "ru"}

// Default is the language of a request that names none of Languages.
const Default = "en"

// Cookie remembers a partner's choice of language.
const Cookie = "rfe_lang"

// entry is one catalogue value: a plain string or plural forms.
type entry struct {
	text  string
	forms map[string]string // CLDR form name -> text, for counts
}

// Catalogue is one language's messages.
type Catalogue struct {
	lang    string
	tag     language.Tag
	entries map[string]entry
	printer *message.Printer
}

var catalogues = map[string]*Catalogue{}

func init() {
	for _, l := range Languages {
		b, err := fs.ReadFile(catalogFS, path.Join("catalog", l+".json"))
		if err != nil {
			panic(err)
		}
		c, err := parse(l, b)
		if err != nil {
			panic(fmt.Sprintf("i18n: catalog/%s.json: %v", l, err))
		}
		catalogues[l] = c
	}
}

// parse reads a catalogue file.
func parse(lang string, b []byte) (*Catalogue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	tag := language.MustParse(lang)
	c := &Catalogue{lang: lang, tag: tag, entries: make(map[string]entry, len(raw)), printer: message.NewPrinter(tag)}
	for k, v := range raw {
		var s string
		if json.Unmarshal(v, &s) == nil {
			c.entries[k] = entry{text: s}
			continue
		}
		var forms map[string]string
		if err := json.Unmarshal(v, &forms); err != nil {
			return nil, fmt.Errorf("%s: neither a string nor plural forms", k)
		}
		if forms["other"] == "" {
			return nil, fmt.Errorf("%s: plural forms without \"other\"", k)
		}
		for f := range forms {
			if _, ok := formNames[f]; !ok {
				return nil, fmt.Errorf("%s: unknown plural form %q", k, f)
			}
		}
		c.entries[k] = entry{forms: forms}
	}
	return c, nil
}

var formNames = map[string]plural.Form{"zero": plural.Zero, "one": plural.One, "two": plural.Two,
	"few": plural.Few, "many": plural.Many, "other": plural.Other}

// For returns the catalogue of lang; an unsupported lang gets the default language's.
func For(lang string) *Catalogue {
	if c, ok := catalogues[lang]; ok {
		return c
	}
	return catalogues[Default]
}

// Lang is the catalogue's language ("en", "ru").
func (c *Catalogue) Lang() string { return c.lang }

// Has reports whether key is in the catalogue.
func (c *Catalogue) Has(key string) bool { _, ok := c.entries[key]; return ok }

// Keys returns every key, sorted.
func (c *Catalogue) Keys() []string {
	ks := make([]string, 0, len(c.entries))
	for k := range c.entries {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// T returns the text of key with its placeholders filled from args, given as name,
// value pairs. A missing key reads as the key itself (tests catch those).
func (c *Catalogue) T(key string, args ...any) string {
	e, ok := c.entries[key]
	if !ok {
		return key
	}
	s := e.text
	if e.forms != nil {
		s = e.forms["other"]
	}
	return fill(s, args)
}

// N returns the plural form of key for count n, with {n} the count formatted for the
// language and the other placeholders filled from args.
func (c *Catalogue) N(key string, n int, args ...any) string {
	e, ok := c.entries[key]
	if !ok {
		return key
	}
	s := e.text
	if e.forms != nil {
		s = e.forms[c.PluralForm(n)]
		if s == "" {
			s = e.forms["other"]
		}
	}
	return fill(s, append([]any{"n", c.Number(n)}, args...))
}

// PluralForm is the CLDR cardinal plural category of integer n in the catalogue's
// language: "one", "few", "many" or "other".
func (c *Catalogue) PluralForm(n int) string {
	if n < 0 {
		n = -n
	}
	switch plural.Cardinal.MatchPlural(c.tag, n, 0, 0, 0, 0) {
	case plural.Zero:
		return "zero"
	case plural.One:
		return "one"
	case plural.Two:
		return "two"
	case plural.Few:
		return "few"
	case plural.Many:
		return "many"
	}
	return "other"
}

// Number formats n with the language's digit grouping ("12,345"; "12 345").
func (c *Catalogue) Number(n any) string { return c.printer.Sprint(number.Decimal(n)) }

// Money formats minor units of an ISO 4217 currency for the language: the amount with
// the currency's number of decimals (the product's table, internal/currency) and the
// language's digit grouping and decimal sign (golang.org/x/text/number), and the code
// or the language's symbol where the catalogue's "fmt.money" pattern puts them
// ("1,234.56 RUB"; "1 234,56 ₽").
func (c *Catalogue) Money(minor int64, code string) string {
	scale := money.Exponent(code)
	v := float64(minor)
	for range scale {
		v /= 10
	}
	amount := c.printer.Sprint(number.Decimal(v, number.Scale(scale)))
	symbol := code
	if u, err := currency.ParseISO(code); err == nil {
		symbol = c.printer.Sprint(currency.NarrowSymbol(u))
	}
	return c.T("fmt.money", "amount", amount, "code", code, "symbol", symbol)
}

// Percent formats a ratio (0.123) as a percentage with one decimal for the language
// ("12.3%"; "12,3 %").
func (c *Catalogue) Percent(f float64) string {
	return c.printer.Sprint(number.Percent(f, number.Scale(1)))
}

func fill(s string, args []any) string {
	if len(args) == 0 || !strings.Contains(s, "{") {
		return s
	}
	pairs := make([]string, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		pairs = append(pairs, "{"+fmt.Sprint(args[i])+"}", fmt.Sprint(args[i+1]))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// Messages returns the texts of every key starting with one of prefixes, for a page's
// script; plural entries are given as their forms.
func (c *Catalogue) Messages(prefixes ...string) map[string]any {
	out := map[string]any{}
	for k, e := range c.entries {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				if e.forms != nil {
					out[k] = e.forms
				} else {
					out[k] = e.text
				}
				break
			}
		}
	}
	return out
}
