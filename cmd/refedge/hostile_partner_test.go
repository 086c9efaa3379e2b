package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/admin/admintest"
)

// fxGet is one request of the post-sweep checks: method, path, body and extra headers
// on one listener, sent raw so the same response checks apply.
type fxGet struct {
	admin              bool
	method, path, body string
	hdr                []kv
}

func (fx *hfixture) exchange(t *testing.T, g fxGet) *rawResponse {
	t.Helper()
	addr := fx.public
	if g.admin {
		addr = fx.admin
		g.hdr = append([]kv{{"Authorization", admintest.Bearer(admintest.AdminSecret)}}, g.hdr...)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", g.method, fx.subst(g.path), addr)
	body := fx.subst(g.body)
	for _, h := range g.hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", h.k, fx.subst(h.v))
	}
	if body != "" || g.method == "POST" || g.method == "PUT" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	res := rawExchange(addr, []byte(b.String()), g.method, hostileTimeout)
	if fx.gone(res.err) {
		fx.requireAlive(t)
	}
	if res.err != nil || len(res.resps) != 1 {
		t.Fatalf("%s %s: %d responses, %v", g.method, g.path, len(res.resps), res.err)
	}
	r := res.resps[0]
	for _, bad := range checkResponse(r) {
		t.Errorf("%s %s: %s", g.method, g.path, bad)
	}
	return r
}

// hostileStored reads the pages that show what the sweep stored (kwork titles, widget
// names, creative alt texts, click sub ids): every one must come out escaped. Each
// page must also show a sentinel, so the check saw the stored payloads at all.
func hostileStored(t *testing.T, fx *hfixture) {
	t.Helper()
	// A fresh widget: the sweep has rewritten A's and may have used up A's quota.
	resp := fx.exchange(t, fxGet{method: "POST", path: "/api/v1/widgets",
		body: `{"name":"stored","category":"hx-stored","size":"728x90","cards":12}`,
		hdr:  []kv{{"Authorization", "Bearer {tokB}"}, {"Content-Type", "application/json"}}})
	if resp.StatusCode != 201 {
		t.Fatalf("create widget for B: %d %s", resp.StatusCode, resp.body)
	}
	id := jsonField(t, resp.body, "id")
	// The sweep uploaded hx-cr with many alt texts, concurrently; this one is last.
	resp = fx.exchange(t, fxGet{admin: true, method: "PUT", path: "/admin/v1/creatives/{crput}?alt=" +
		url.QueryEscape(`<script>hx7331()</script> "><img src=x onerror=hx7331()>`), body: "{png}", hdr: []kv{{"Content-Type", "image/png"}}})
	if resp.StatusCode/100 != 2 {
		t.Fatalf("upload creative with a markup alt text: %d %s", resp.StatusCode, resp.body)
	}
	pages := []struct {
		g           fxGet
		want        int
		mustReflect bool // the page shows stored payloads
	}{
		{fxGet{method: "GET", path: "/w/" + id}, 200, true},
		{fxGet{method: "GET", path: "/w/builder", hdr: []kv{{"Cookie", "rfe_ps={sessA}"}}}, 200, false},
		{fxGet{method: "GET", path: "/w/preview?category=hx-stored&cards=12", hdr: []kv{{"Cookie", "rfe_ps={sessA}"}}}, 200, true},
		{fxGet{method: "GET", path: "/b/materials?ref={A}"}, 200, true},
		{fxGet{method: "GET", path: "/partner", hdr: []kv{{"Cookie", "rfe_ps={sessA}"}}}, 200, false},
		{fxGet{method: "GET", path: "/partner/links", hdr: []kv{{"Cookie", "rfe_ps={sessA}"}}}, 200, false},
		{fxGet{admin: true, method: "GET", path: "/admin/review?range=24h"}, 200, false},
		{fxGet{admin: true, method: "GET", path: "/admin/review/{A}?range=24h"}, 200, false},
	}
	for _, p := range pages {
		r := fx.exchange(t, p.g)
		if r.StatusCode != p.want {
			t.Errorf("stored check %s: status %d, want %d", p.g.path, r.StatusCode, p.want)
		}
		if p.mustReflect && !strings.Contains(string(r.body), sentinel) {
			t.Errorf("stored check %s shows no stored payload, so it checked nothing:\n%s", p.g.path, clip(r.body, 1500))
		}
	}
}

// hostileCrossPartner: partner B's credentials never reach partner A's data, and no
// credential works as another kind or for another partner.
func hostileCrossPartner(t *testing.T, fx *hfixture) {
	t.Helper()
	// The victim widget: no route of the sweep names it, so it is there untouched.
	a, wid := fx.vals["A"], fx.vals["wvictim"]
	bearerB := []kv{{"Authorization", "Bearer {tokB}"}}
	sessB := []kv{{"Cookie", "rfe_ps={sessB}"}}
	notA := func(what string, r *rawResponse) {
		t.Helper()
		if strings.Contains(string(r.body), a) || strings.Contains(string(r.body), wid) {
			t.Errorf("%s as partner B answered %d with partner A's data:\n%s", what, r.StatusCode, clip(r.body, 1000))
		}
	}
	// A's widget by id: 4xx for every method.
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		body := ""
		if m == "PUT" {
			body = `{"category":"hx-design"}`
		}
		r := fx.exchange(t, fxGet{method: m, path: "/api/v1/widgets/" + wid, body: body, hdr: append(bearerB, kv{"Content-Type", "application/json"})})
		if r.StatusCode < 400 || r.StatusCode >= 500 {
			t.Errorf("%s A's widget with B's token: %d, want 4xx", m, r.StatusCode)
		}
		notA(m+" A's widget", r)
	}
	r := fx.exchange(t, fxGet{method: "GET", path: "/api/v1/widgets/" + wid, hdr: []kv{{"Authorization", "Bearer {tokA}"}}})
	if r.StatusCode != 200 {
		t.Errorf("A's widget after B's attempts: %d, want 200 (B changed or deleted it?)", r.StatusCode)
	}
	// Endpoints scoped by the credential: naming A in the query changes nothing.
	other := "?partner=" + a + "&partner_id=" + a + "&ref=" + a + "&id=" + a
	for _, p := range []string{"/api/v1/stats", "/api/v1/referrals", "/api/v1/earnings", "/api/v1/clicks", "/api/v1/banners", "/api/v1/widgets"} {
		r := fx.exchange(t, fxGet{method: "GET", path: p + other, hdr: bearerB})
		if r.StatusCode != 200 {
			t.Errorf("GET %s as B: %d %s", p, r.StatusCode, clip(r.body, 300))
		}
		notA("GET "+p, r)
	}
	for _, p := range []string{"/partner", "/w/builder", "/partner/links", "/b/materials", "/partner/tokens"} {
		r := fx.exchange(t, fxGet{method: "GET", path: p + other, hdr: sessB})
		if r.StatusCode != 200 {
			t.Errorf("GET %s with B's session: %d", p, r.StatusCode)
		}
		notA("GET "+p, r)
	}
	// A's view token does not count a view for B's widget.
	r = fx.exchange(t, fxGet{method: "POST", path: "/w/{widB}/view", body: "{view}"})
	if r.StatusCode != 400 {
		t.Errorf("A's view token on B's widget: %d, want 400", r.StatusCode)
	}
	// Forged and misused credentials: 401 everywhere.
	tokB := fx.vals["tokB"]
	parts := strings.Split(tokB, ".")
	forged := strings.Join(append([]string{parts[0], a}, parts[2:]...), ".")
	creds := map[string][]kv{
		"B's token relabelled as A's":  {{"Authorization", "Bearer " + forged}},
		"A's session as a bearer":      {{"Authorization", "Bearer {sessA}"}},
		"A's login link as a bearer":   {{"Authorization", "Bearer {login}"}},
		"A's API token as a session":   {{"Cookie", "rfe_ps={tokA}"}},
		"A's login link as a session":  {{"Cookie", "rfe_ps={login}"}},
		"basic auth with A's id":       {{"Authorization", "Basic " + a}},
		"bearer without a token":       {{"Authorization", "Bearer "}},
		"A's token in lower-case auth": {{"Authorization", "bearer {tokA}x"}},
	}
	for what, hdr := range creds {
		for _, p := range []string{"/api/v1/stats", "/api/v1/widgets"} {
			r := fx.exchange(t, fxGet{method: "GET", path: p, hdr: hdr})
			if r.StatusCode != 401 {
				t.Errorf("GET %s with %s: %d, want 401", p, what, r.StatusCode)
			}
			notA(what, r)
		}
	}
	// The token the sweep revoked (admin-token-revoke's baseline) no longer works.
	r = fx.exchange(t, fxGet{method: "GET", path: "/api/v1/widgets", hdr: []kv{{"Authorization", "Bearer {tokrevToken}"}}})
	if r.StatusCode != 401 {
		t.Errorf("revoked token: %d, want 401", r.StatusCode)
	}
}

func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	i := strings.Index(string(body), `"`+name+`":"`)
	if i < 0 {
		t.Fatalf("no %q in %s", name, clip(body, 500))
	}
	rest := string(body[i+len(name)+4:])
	return rest[:strings.IndexByte(rest, '"')]
}
