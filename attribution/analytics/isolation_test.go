package analytics_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
	"github.com/refedge/refedge/internal/partnerapi"
)

// Partner B's credentials never show partner A's data, through any endpoint, CSV or
// the dashboard; tampered, expired, revoked and misused credentials are refused.
func TestAnalyticsPartnerIsolation(t *testing.T) {
	e := analyticstest.NewEnv(t, nil)
	from := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(3 * 24 * time.Hour)
	a := analyticstest.Simulate("partnerA", 21, from, to, 6)
	b := analyticstest.Simulate("partnerB", 22, from, to, 4)
	a.Insert(t.Context(), t, e.Conn, e.DB)
	b.Insert(t.Context(), t, e.Conn, e.DB)
	if err := e.An.SealHours(t.Context(), from, to); err != nil {
		t.Fatal(err)
	}
	tokA, tokB := e.Token("partnerA"), e.Token("partnerB")
	rng := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "interval": {"day"}}.Encode()
	// partner_id and partner are not parameters of the API: naming A changes nothing.
	naming := "&partner_id=partnerA&partner=partnerA"
	endpoints := []string{
		"/api/v1/stats?" + rng + naming,
		"/api/v1/stats?" + rng + naming + "&format=csv",
		"/api/v1/stats?" + rng + naming + "&format=csv&part=breakdowns",
		"/api/v1/referrals?limit=1000" + naming,
		"/api/v1/referrals?format=csv" + naming,
		"/api/v1/earnings?" + rng + naming,
		"/api/v1/earnings?" + rng + naming + "&format=csv",
		"/api/v1/clicks?" + rng + naming + "&limit=1000",
		"/api/v1/clicks?" + rng + naming + "&limit=1000&format=csv",
	}
	for _, ep := range endpoints {
		code, body := e.Get(ep, tokB)
		if code != http.StatusOK {
			t.Fatalf("B %s: %d %s", ep, code, body)
		}
		if strings.Contains(body, "partnerA") {
			t.Errorf("B %s: answer mentions partner A: %.300s", ep, body)
		}
		// Series CSVs carry figures only; they are checked against B's figures below.
		series := strings.Contains(ep, "format=csv") && !strings.Contains(ep, "part=breakdowns") &&
			(strings.HasPrefix(ep, "/api/v1/stats") || strings.HasPrefix(ep, "/api/v1/earnings"))
		if !series && !strings.Contains(body, "partnerB") {
			t.Errorf("B %s: answer carries none of B's own data: %.300s", ep, body)
		}
		if code, body := e.Get(ep, tokA); code != http.StatusOK || strings.Contains(body, "partnerB") {
			t.Errorf("A %s: %d, mentions B: %v", ep, code, strings.Contains(body, "partnerB"))
		}
	}
	var st analytics.Stats
	e.GetJSON("/api/v1/stats?"+rng+naming, tokB, &st)
	r, _ := analytics.ParseRange(url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "interval": {"day"}}.Get, time.Now(), &e.An.Cfg)
	if w := b.Want(r); st.PartnerID != "partnerB" || st.Totals.Clicks != w.Totals.Clicks || st.Totals.Impressions != w.Totals.Impressions {
		t.Errorf("B stats: partner %s, %d clicks, %d impressions; want partnerB, %d, %d", st.PartnerID, st.Totals.Clicks, st.Totals.Impressions,
			w.Totals.Clicks, w.Totals.Impressions)
	}
	checkStatsCSV(t, e, tokB, url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "interval": {"day"}}, &st)

	// Dashboard through B's session.
	cb := e.SessionClient("partnerB")
	code, page := e.Page(cb, "/partner?"+rng)
	if code != http.StatusOK || strings.Contains(page, "partnerA") || !strings.Contains(page, "partnerB") {
		t.Errorf("B dashboard: %d, mentions A: %v", code, strings.Contains(page, "partnerA"))
	}
	// A partner with no traffic yet gets the page with its empty state, not an error.
	if code, page := e.Page(e.SessionClient("partnerC"), "/partner"); code != http.StatusOK || !strings.Contains(page, `id="no-data"`) {
		t.Errorf("new partner's dashboard: %d, empty state shown: %v", code, strings.Contains(page, `id="no-data"`))
	}
	// The session cookie also works for the API (GET) but is still B's.
	if code, body := e.Page(cb, "/api/v1/referrals"); code != http.StatusOK || strings.Contains(body, "partnerA") {
		t.Errorf("B session on API: %d, mentions A: %v", code, strings.Contains(body, "partnerA"))
	}

	// Refused credentials: every one gets 401 from the API and the dashboard.
	other, err := partnerapi.NewAuth(partnerapi.Config{Keys: e.Keys, Redis: e.RDB, PublicURL: e.Base})
	if err != nil {
		t.Fatal(err)
	}
	other.Now = func() time.Time { return time.Now().Add(-366 * 24 * time.Hour) }
	expired := other.IssueToken("partnerB").Token
	parts := strings.Split(tokB, ".")
	swapped := strings.Join([]string{parts[0], "partnerA", parts[2], parts[3], parts[4]}, ".")
	i := len(tokB) - 5 // a character inside the signature
	repl := byte('A')
	if tokB[i] == 'A' {
		repl = 'B'
	}
	flipped := tokB[:i] + string(repl) + tokB[i+1:]
	revoked := e.Auth.IssueToken("partnerB")
	if err := e.Auth.Revoke(t.Context(), revoked.ID); err != nil {
		t.Fatal(err)
	}
	loginLink, _ := url.Parse(e.Auth.LoginLink("partnerB"))
	bad := map[string]string{
		"expired":               expired,
		"partner swapped":       swapped,
		"signature flipped":     flipped,
		"revoked":               revoked.Token,
		"login link as a token": loginLink.Query().Get("t"),
		"garbage":               "not-a-token",
	}
	for name, tok := range bad {
		for _, ep := range []string{endpoints[0], endpoints[1], endpoints[3], endpoints[5], endpoints[7]} {
			if code, body := e.Get(ep, tok); code != http.StatusUnauthorized || strings.Contains(body, "partnerA") || strings.Contains(body, "partnerB") {
				t.Errorf("%s token on %s: %d %.200s", name, ep, code, body)
			}
		}
		code, body := e.Get("/partner", "", "Cookie", partnerapi.SessionCookie+"="+tok)
		if code != http.StatusUnauthorized || strings.Contains(body, "partnerB") {
			t.Errorf("%s value as session cookie: dashboard %d", name, code)
		}
	}
	if code, _ := e.Get("/api/v1/stats", ""); code != http.StatusUnauthorized {
		t.Errorf("no credential: API %d, want 401", code)
	}
	if code, _ := e.Get("/partner", ""); code != http.StatusUnauthorized {
		t.Errorf("no credential: dashboard %d, want 401", code)
	}

	// An expired login link and an expired session are refused too.
	oldLink := other.LoginLink("partnerB")
	u, _ := url.Parse(oldLink)
	if code, _ := e.Get("/partner/login?"+u.RawQuery, ""); code != http.StatusUnauthorized {
		t.Errorf("expired login link: %d, want 401", code)
	}
	other.Now = func() time.Time { return time.Now().Add(-13 * time.Hour) } // sessions last 12 h
	var rc fasthttp.RequestCtx
	rc.Request.SetRequestURI(strings.TrimPrefix(other.LoginLink("partnerB"), e.Base))
	other.HandleLogin(&rc)
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(partnerapi.SessionCookie)
	if !rc.Response.Header.Cookie(ck) {
		t.Fatal("old login gave no session cookie")
	}
	oldSession := partnerapi.SessionCookie + "=" + string(ck.Value())
	if code, _ := e.Get("/partner", "", "Cookie", oldSession); code != http.StatusUnauthorized {
		t.Errorf("expired session: dashboard %d, want 401", code)
	}
	if code, _ := e.Get("/api/v1/stats", "", "Cookie", oldSession); code != http.StatusUnauthorized {
		t.Errorf("expired session: API %d, want 401", code)
	}
}

// A rejected parameter is a 400 naming it, never a 5xx; limits hold.
func TestAnalyticsParameterErrors(t *testing.T) {
	e := analyticstest.NewEnv(t, nil)
	tok := e.Token("p1")
	f := func(path, wantParam string) {
		t.Helper()
		code, body := e.Get(path, tok)
		var msg struct{ Error string }
		_ = json.Unmarshal([]byte(body), &msg)
		if code != http.StatusBadRequest || !strings.HasPrefix(msg.Error, wantParam+":") {
			t.Errorf("GET %s: %d %s, want 400 about %s", path, code, body, wantParam)
		}
	}
	f("/api/v1/stats?interval=week", "interval")
	f("/api/v1/stats?from=yesterday", "from")
	f("/api/v1/stats?from=2025-01-01&to=2026-06-01", "to")
	f("/api/v1/stats?from=2025-01-01&to=2025-03-01&interval=hour", "interval")
	f("/api/v1/stats?from=2025-03-01&to=2025-01-01", "to")
	f("/api/v1/stats?top=0", "top")
	f("/api/v1/stats?top=100000", "top")
	f("/api/v1/stats?range=30d&from=2025-01-01", "range")
	f("/api/v1/stats?part=all", "part")
	f("/api/v1/referrals?status=gone", "status")
	f("/api/v1/referrals?limit=-1", "limit")
	f("/api/v1/clicks?verdict=evil'--", "verdict")
	f("/api/v1/earnings?from=1999-01-01&to=1999-02-01", "from")
	if code, _ := e.Get("/api/v1/stats", tok); code != http.StatusOK {
		t.Errorf("defaults: %d", code)
	}
}
