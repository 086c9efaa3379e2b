package admin

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var testCreds = []Credential{
	{Name: "ops-admin", Role: RoleAdmin, Secret: "admin-secret-0123456789abcdefgh"},
	{Name: "fraud-viewer", Role: RoleViewer, Secret: "viewer-secret-0123456789abcdefgh"},
}

func init() {
	routeRoles["PUT /test/change/{id}"] = RoleAdmin
	routeRoles["GET /test/read"] = RoleViewer
}

// TestParseCredentials: good entries parse (a secret may hold colons); every bad one is
// reported by position and name, and no message quotes a secret.
func TestParseCredentials(t *testing.T) {
	cs, err := ParseCredentials(" a:admin:" + strings.Repeat("x", 24) + ", b.c@d:viewer:" + strings.Repeat("y", 20) + ":::: ,")
	if err != nil || len(cs) != 2 || cs[0].Name != "a" || cs[0].Role != RoleAdmin || cs[1].Role != RoleViewer || cs[1].Secret != strings.Repeat("y", 20)+"::::" {
		t.Fatalf("%+v %v", cs, err)
	}
	secret := "s3cr3t-value-that-is-long-enough"
	bad := []string{
		"nocolons" + secret,
		"a:root:" + secret,
		"a:admin:short-" + "x",
		"a b:admin:" + secret,
		"a:admin:" + secret + ",a:viewer:" + secret + "2",
		"a:admin:" + secret + ",b:viewer:" + secret,
		"a:admin:" + secret + " with-space",
	}
	for _, v := range bad {
		_, err := ParseCredentials(v)
		if err == nil {
			t.Errorf("%q: accepted", v)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "short-x") {
			t.Errorf("error quotes the secret: %v", err)
		}
		if !strings.Contains(err.Error(), "entry ") {
			t.Errorf("error names no entry: %v", err)
		}
	}
}

// TestHandleNeedsRole: a pattern that is not in the route table is refused loudly.
func TestHandleNeedsRole(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "roles.go") {
			t.Fatalf("recover() = %v, want a panic naming the route table", r)
		}
	}()
	New(slog.New(slog.DiscardHandler)).Handle("GET /admin/v1/undeclared", func(http.ResponseWriter, *http.Request) {})
}

func authServer(t *testing.T) (*Server, *[]*AuditEntry) {
	s := New(slog.New(slog.DiscardHandler))
	s.SetCredentials(testCreds)
	var mu sync.Mutex
	var entries []*AuditEntry
	s.SetAuditSink(sinkFunc(func(e *AuditEntry) bool {
		mu.Lock()
		entries = append(entries, e)
		mu.Unlock()
		return true
	}))
	s.Handle("PUT /test/change/{id}", func(w http.ResponseWriter, r *http.Request) {
		AuditChange(r, "partner:"+r.PathValue("id"), map[string]any{"status": "active"}, map[string]any{"status": "blocked", "token": "pt1.p1.ab.1.zz"})
		WriteJSON(w, http.StatusOK, map[string]string{"ok": "yes"})
	})
	s.Handle("GET /test/read", func(w http.ResponseWriter, r *http.Request) {
		op, _ := OperatorOf(r)
		WriteJSON(w, http.StatusOK, map[string]string{"op": op.Name})
	})
	return s, &entries
}

type sinkFunc func(*AuditEntry) bool

func (f sinkFunc) Record(e *AuditEntry) bool { return f(e) }

func call(s http.Handler, method, path, authz string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader("{}"))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for _, m := range mod {
		m(req)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// TestRoles: no credential or a wrong one is 401 with one body whatever was wrong; a
// viewer may read but not change (403); an admin may do both; probes stay open; pprof is
// an admin's. Only the admin's change is audited, with the name and no token value.
func TestRoles(t *testing.T) {
	s, entries := authServer(t)
	admin, viewer := "Bearer "+testCreds[0].Secret, "Bearer "+testCreds[1].Secret
	var unauthorized string
	for _, authz := range []string{"", "Bearer ", "Bearer wrong", "Basic " + testCreds[0].Secret, "bearer " + testCreds[0].Secret,
		"Bearer " + testCreds[0].Secret + "x", "Bearer " + testCreds[0].Secret[:len(testCreds[0].Secret)-1]} {
		for _, rt := range [][2]string{{"GET", "/test/read"}, {"PUT", "/test/change/p1"}, {"GET", "/debug/pprof/cmdline"}, {"GET", "/nowhere"}} {
			rec := call(s, rt[0], rt[1], authz, func(r *http.Request) { r.RemoteAddr = "192.0.2.1:1" })
			if rec.Code != 401 {
				t.Fatalf("%s %s with %q: %d, want 401", rt[0], rt[1], authz, rec.Code)
			}
			if unauthorized == "" {
				unauthorized = rec.Body.String()
			} else if rec.Body.String() != unauthorized {
				t.Fatalf("401 bodies differ: %q and %q", unauthorized, rec.Body.String())
			}
		}
		s.auth.mu.Lock()
		clear(s.auth.failures)
		s.auth.mu.Unlock()
	}
	for _, c := range []struct {
		method, path, authz string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/metrics", "", 200},
		{"GET", "/readyz", "", 200},
		{"GET", "/test/read", viewer, 200},
		{"PUT", "/test/change/p1", viewer, 403},
		{"GET", "/debug/pprof/cmdline", viewer, 403},
		{"GET", "/test/read", admin, 200},
		{"PUT", "/test/change/p1", admin, 200},
		{"GET", "/debug/pprof/cmdline", admin, 200},
		{"GET", "/nowhere", viewer, 404},
	} {
		if rec := call(s, c.method, c.path, c.authz); rec.Code != c.want {
			t.Errorf("%s %s (%q): %d, want %d: %s", c.method, c.path, c.authz[:min(len(c.authz), 12)], rec.Code, c.want, rec.Body)
		}
	}
	if len(*entries) != 1 {
		t.Fatalf("%d audit entries, want 1 (the admin's change): %+v", len(*entries), *entries)
	}
	e := (*entries)[0]
	if e.Operator != "ops-admin" || e.Route != "PUT /test/change/{id}" || e.Path != "/test/change/p1" || e.Target != "partner:p1" || e.Partner != "p1" || e.Status != 200 || e.Method != "PUT" ||
		e.Before != `{"status":"active"}` || !strings.Contains(e.After, `"blocked"`) || strings.Contains(e.After, "pt1.") {
		t.Fatalf("audit entry %+v", e)
	}
}

// TestFailedAttemptsLimited: past the limit of wrong credentials from one address,
// even the right one is answered 429 until the window passes; other addresses are not
// affected.
func TestFailedAttemptsLimited(t *testing.T) {
	s, _ := authServer(t)
	now := time.Unix(1_800_000_000, 0)
	s.auth.now = func() time.Time { return now }
	from := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	good := "Bearer " + testCreds[1].Secret
	for i := range DefaultFailLimit {
		if rec := call(s, "GET", "/test/read", "Bearer guess", from("198.51.100.9:4000")); rec.Code != 401 {
			t.Fatalf("attempt %d: %d", i, rec.Code)
		}
	}
	if rec := call(s, "GET", "/test/read", good, from("198.51.100.9:4001")); rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("right credential after %d failures: %d, want 429", DefaultFailLimit, rec.Code)
	}
	form := url.Values{"secret": {testCreds[1].Secret}}.Encode()
	if rec := call(s, "POST", SignInPath, "", from("198.51.100.9:4002"), func(r *http.Request) {
		r.Body = io.NopCloser(strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}); rec.Code != 429 {
		t.Fatalf("sign-in after the failures: %d, want 429", rec.Code)
	}
	if rec := call(s, "GET", "/test/read", good, from("198.51.100.10:4000")); rec.Code != 200 {
		t.Fatalf("another address: %d", rec.Code)
	}
	now = now.Add(DefaultFailWindow)
	if rec := call(s, "GET", "/test/read", good, from("198.51.100.9:4003")); rec.Code != 200 {
		t.Fatalf("after the window: %d", rec.Code)
	}
}

// TestSignIn: the sign-in form sets an HttpOnly, SameSite=Strict session cookie that
// reads pages but changes nothing; a wrong secret sets none; the cookie ends at its
// expiry, when its credential is removed, and sign-out clears it.
func TestSignIn(t *testing.T) {
	s, _ := authServer(t)
	signIn := func(secret, next string) *httptest.ResponseRecorder {
		return call(s, "POST", SignInPath, "", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(url.Values{"secret": {secret}, "next": {next}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		})
	}
	if rec := signIn("wrong-wrong-wrong-wrong-wrong", ""); rec.Code != 401 || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("wrong secret: %d %v", rec.Code, rec.Result().Cookies())
	}
	rec := signIn(testCreds[0].Secret, "//evil.example/")
	if rec.Code != 303 || rec.Header().Get("Location") != "/admin/" {
		t.Fatalf("sign-in: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	ck := rec.Result().Cookies()[0]
	if ck.Name != SessionCookie || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge <= 0 || strings.Contains(ck.Value, testCreds[0].Secret) {
		t.Fatalf("cookie %+v", ck)
	}
	withCookie := func(r *http.Request) { r.AddCookie(ck) }
	if rec := call(s, "GET", "/test/read", "", withCookie); rec.Code != 200 || !strings.Contains(rec.Body.String(), "ops-admin") {
		t.Fatalf("read with the session: %d %s", rec.Code, rec.Body)
	}
	if rec := call(s, "PUT", "/test/change/p1", "", withCookie); rec.Code != 401 {
		t.Fatalf("change with only a session cookie (an admin's): %d, want 401", rec.Code)
	}
	forged := *ck
	forged.Value = strings.Replace(ck.Value, "ops-admin", "fraud-viewer", 1)
	if rec := call(s, "GET", "/test/read", "", func(r *http.Request) { r.AddCookie(&forged) }); rec.Code != 401 {
		t.Fatalf("renamed cookie: %d", rec.Code)
	}
	if rec := call(s, "POST", SignOutPath, "", withCookie); rec.Code != 303 || rec.Result().Cookies()[0].MaxAge >= 0 {
		t.Fatalf("sign-out: %d %v", rec.Code, rec.Result().Cookies())
	}
	real := s.auth.now
	s.auth.now = func() time.Time { return real().Add(DefaultSessionTTL + time.Second) }
	if rec := call(s, "GET", "/test/read", "", withCookie); rec.Code != 401 {
		t.Fatalf("expired session: %d", rec.Code)
	}
	s.auth.now = real
	s.SetCredentials(testCreds[1:])
	if rec := call(s, "GET", "/test/read", "", withCookie); rec.Code != 401 {
		t.Fatalf("session of a removed credential: %d", rec.Code)
	}
	// Pages without a credential get a 401 page that links to the sign-in.
	rec = call(s, "GET", "/admin/review?range=24h", "")
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), SignInPath+"?next=%2Fadmin%2Freview%3Frange%3D24h") {
		t.Fatalf("page without a session: %d %s", rec.Code, rec.Body)
	}
}

// TestAnonymousOnlyWithoutCredentials: development without credentials lets requests
// through as "anonymous"; once credentials exist it does not.
func TestAnonymousOnlyWithoutCredentials(t *testing.T) {
	s, entries := authServer(t)
	s.AllowAnonymous()
	if rec := call(s, "PUT", "/test/change/p1", ""); rec.Code != 401 {
		t.Fatalf("anonymous with credentials set: %d", rec.Code)
	}
	s.SetCredentials(nil)
	if rec := call(s, "PUT", "/test/change/p1", ""); rec.Code != 200 || len(*entries) != 1 || (*entries)[0].Operator != "anonymous" {
		t.Fatalf("anonymous in development: %d %+v", rec.Code, *entries)
	}
}

// TestScrub: secret-bearing fields and credential-shaped strings never reach the trail.
func TestScrub(t *testing.T) {
	got := scrub(map[string]any{"id": "abc", "token": "anything", "url": "https://x/partner/login?t=pl1.p.1.2.mac",
		"nested": []any{map[string]any{"note": "pt1.p1.0a.17000.sig"}}, "status": "active"})
	for _, bad := range []string{"anything", "pl1.", "pt1."} {
		if strings.Contains(got, bad) {
			t.Fatalf("scrubbed %s still holds %q", got, bad)
		}
	}
	if !strings.Contains(got, `"status":"active"`) || !strings.Contains(got, `"id":"abc"`) {
		t.Fatalf("scrub removed too much: %s", got)
	}
}
