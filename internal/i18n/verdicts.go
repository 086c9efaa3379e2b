package i18n

import "strings"

// Verdict explains a click verdict ("valid", "bot", ...) in a sentence: the catalogue's
// "verdict.<v>", else "verdict.unknown".
func (c *Catalogue) Verdict(v string) string {
	if k := "verdict." + v; c.Has(k) {
		return c.T(k)
	}
	return c.T("verdict.unknown")
}

// Reason explains a reason code ("family:detail") in a sentence: the catalogue's
// "reason.<code>", else its family's "reason_family.<family>" with the detail, else
// "reason.unknown". Details come from requests, so callers escape the result
// (html/template does).
func (c *Catalogue) Reason(code string) string {
	if k := "reason." + code; c.Has(k) {
		return c.T(k)
	}
	family, detail, ok := strings.Cut(code, ":")
	if k := "reason_family." + family; ok && detail != "" && c.Has(k) {
		return c.T(k, "detail", detail)
	}
	return c.T("reason.unknown")
}
