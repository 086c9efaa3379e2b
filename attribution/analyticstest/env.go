package analyticstest

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/dashboard"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

// Env is a running analytics stack on real ClickHouse and Redis: the partner API
// and the dashboard on a loopback fasthttp server, the admin API on an httptest-less
// net/http handler.
type Env struct {
	t     *testing.T
	Conn  driver.Conn
	DB    string
	An    *analytics.Analytics
	Auth  *partnerapi.Auth
	RDB   *redis.Client
	Keys  *signing.Keyring
	Reg   *partners.Registry
	Admin *admin.Server
	Base  string
}

const TestSecret = "analytics-test-secret-0123456789"

// NewEnv starts the stack on a fresh database; now is the analytics clock (nil for the
// wall clock).
func NewEnv(t *testing.T, now func() time.Time) *Env {
	t.Helper()
	conn, db := testenv.ClickHouse(t)
	return NewEnvOn(t, now, conn, db)
}

// NewEnvOn starts the stack on database db (migrated if needed).
func NewEnvOn(t *testing.T, now func() time.Time, conn driver.Conn, db string) *Env {
	t.Helper()
	rdb := testenv.Redis(t)
	log := slog.New(slog.NewTextHandler(LogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := sink.Migrate(t.Context(), conn, db, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	an, err := analytics.New(analytics.Config{Conn: conn, DB: db, Logger: log, Now: now, Sealer: analytics.SealerConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	keys := signing.MustKeyring(TestSecret)
	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: keys, Redis: rdb, PublicURL: base})
	if err != nil {
		t.Fatal(err)
	}
	router := partnerapi.NewRouter(auth, log)
	an.Register(router)
	dash, err := dashboard.New(dashboard.Config{Analytics: an, Auth: auth, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	// The partner app's shared assets and pages in front of the dashboard, as refedge
	// wires them.
	app, err := partnerui.NewHandler(auth, dash.Handler, log)
	if err != nil {
		t.Fatal(err)
	}
	reg := &partners.Registry{Redis: rdb}
	adm := admintest.New(log)
	auth.RegisterAdmin(adm, reg)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		// The same split tracker.Routes makes on the public listener.
		p := string(ctx.Path())
		switch {
		case strings.HasPrefix(p, "/api/v1/"):
			router.Serve(ctx)
		case p == "/partner" || strings.HasPrefix(p, "/partner/"):
			app.Serve(ctx)
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return &Env{t: t, Conn: conn, DB: db, An: an, Auth: auth, RDB: rdb, Keys: keys, Reg: reg, Admin: adm, Base: base}
}

// token issues an API token for partner.
func (e *Env) Token(partner string) string { return e.Auth.IssueToken(partner).Token }

// get requests path with a bearer token ("" for none) and returns status and body.
func (e *Env) Get(path, token string, header ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.Base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// getJSON requests path with token and decodes a 200 answer into v.
func (e *Env) GetJSON(path, token string, v any) {
	e.t.Helper()
	code, body := e.Get(path, token)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		e.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// sessionClient signs in through a login link and returns a client holding the session
// cookie. The cookie is Secure and the test server speaks http, so the jar is fed the
// cookie by hand, as a browser on localhost would keep it.
func (e *Env) SessionClient(partner string) *http.Client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.Auth.LoginLink(partner))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login link: status %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == partnerapi.SessionCookie {
			session = ck
		}
	}
	if session == nil {
		e.t.Fatal("login link set no session cookie")
	}
	c.Jar = &fixedJar{ck: &http.Cookie{Name: session.Name, Value: session.Value}}
	return c
}

// fixedJar sends one cookie with every request.
type fixedJar struct{ ck *http.Cookie }

func (j *fixedJar) SetCookies(*url.URL, []*http.Cookie) {}

func (j *fixedJar) Cookies(*url.URL) []*http.Cookie { return []*http.Cookie{j.ck} }

// page fetches path with client c and returns status and body.
func (e *Env) Page(c *http.Client, path string) (int, string) {
	e.t.Helper()
	resp, err := c.Get(e.Base + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// LogWriter sends log lines to t.Log.
type LogWriter struct{ t *testing.T }

func (w LogWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
