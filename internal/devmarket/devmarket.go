// Package devmarket is a stand-in for the marketplace in development: the page a
// referral redirect lands on. It shows what arrived (path, query, whether the
// attribution cookies came along) so a developer can follow a click end to end.
// It is never used in production.
package devmarket

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/refedge/refedge/internal/refcookie"
)

var page = template.Must(template.New("p").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marketplace (dev stub)</title>
<style>body{font:16px system-ui,sans-serif;margin:2rem;max-width:50rem}code{background:#eee;padding:0 .2em}</style>
{{if .BeaconURL}}<script async src="{{.BeaconURL}}"></script>{{end}}
</head><body>
<h1>Marketplace (development stub)</h1>
<p>You landed on <code>{{.Path}}</code>{{if .Query}} with query <code>{{.Query}}</code>{{end}}.</p>
<ul>
<li>Visitor cookie <code>rfe_vid</code>: {{if .Vid}}present{{else}}absent{{end}}</li>
<li>Attribution cookie <code>rfe_ref</code>: {{if .Ref}}present — <code>{{.Ref}}</code>{{else}}absent{{end}}</li>
</ul>
<p>In production this is the marketplace itself; refedge only answers requests with <code>ref=</code>.</p>
</body></html>`))

// Handler serves the stub page for every path. beaconURL, when set, is refedge's
// verification script, loaded the way the real marketplace would load it.
func Handler(beaconURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data := struct{ Path, Query, Vid, Ref, BeaconURL string }{Path: r.URL.Path, Query: r.URL.RawQuery, BeaconURL: beaconURL}
		if c, err := r.Cookie(refcookie.VisitorName); err == nil {
			data.Vid = c.Value
		}
		if c, err := r.Cookie(refcookie.Name); err == nil {
			data.Ref = c.Value
			if i := strings.LastIndexByte(data.Ref, '.'); i > 0 {
				data.Ref = data.Ref[:i] + ".…" // the signature is not for display
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = page.Execute(w, data)
	})
}
