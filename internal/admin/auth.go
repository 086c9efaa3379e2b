package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/refedge/refedge/internal/localpath"
)

// Operator credentials: REFEDGE_ADMIN_TOKENS holds comma-separated name:role:secret
// entries. A request presents one as "Authorization: Bearer <secret>", or (for the
// console's pages, GET only) the session cookie the sign-in page sets.

// Credential is one operator credential.
type Credential struct {
	Name   string
	Role   Role
	Secret string
}

// MinSecretLen is the shortest secret accepted.
const MinSecretLen = 24

// ParseCredentials parses REFEDGE_ADMIN_TOKENS. Its errors name the entry by position
// (and name, once that parsed) and never quote a secret.
func ParseCredentials(v string) ([]Credential, error) {
	var out []Credential
	names, secrets := map[string]bool{}, map[string]bool{}
	var errs []error
	for i, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		n := i + 1
		parts := strings.SplitN(e, ":", 3)
		if len(parts) != 3 {
			errs = append(errs, fmt.Errorf("entry %d: want name:role:secret", n))
			continue
		}
		name, role, secret := parts[0], parts[1], parts[2]
		if !validName(name) {
			errs = append(errs, fmt.Errorf("entry %d: the name must be 1-64 of A-Z a-z 0-9 . _ @ -", n))
			continue
		}
		c := Credential{Name: name, Secret: secret}
		switch role {
		case "viewer":
			c.Role = RoleViewer
		case "admin":
			c.Role = RoleAdmin
		default:
			errs = append(errs, fmt.Errorf("entry %d (%s): the role must be viewer or admin", n, name))
			continue
		}
		switch {
		case len(secret) < MinSecretLen:
			errs = append(errs, fmt.Errorf("entry %d (%s): the secret must be at least %d characters", n, name, MinSecretLen))
			continue
		case strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			errs = append(errs, fmt.Errorf("entry %d (%s): the secret must not contain spaces or control characters", n, name))
			continue
		case names[name]:
			errs = append(errs, fmt.Errorf("entry %d (%s): the name is used twice", n, name))
			continue
		case secrets[secret]:
			errs = append(errs, fmt.Errorf("entry %d (%s): its secret is another entry's too", n, name))
			continue
		}
		names[name], secrets[secret] = true, true
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return false
		}
	}
	return true
}

// Operator is the caller an admin request was authenticated as.
type Operator struct {
	Name string
	Role Role
	// Via is "token" (Authorization: Bearer), "session" (the console's cookie) or
	// "anonymous" (development without credentials).
	Via string
}

type operatorKey struct{}

// OperatorOf returns the operator r was authenticated as; ok is false on open routes.
func OperatorOf(r *http.Request) (Operator, bool) {
	op, ok := r.Context().Value(operatorKey{}).(Operator)
	return op, ok
}

func withOperator(ctx context.Context, op Operator) context.Context {
	return context.WithValue(ctx, operatorKey{}, op)
}

// keyedCred is a credential with the digest requests are compared against.
type keyedCred struct {
	Credential
	digest [32]byte
}

// auth holds the credentials and the failed-attempt limiter.
type auth struct {
	creds []keyedCred
	// anonymous grants every request the admin role (development without credentials).
	anonymous bool
	// failLimit failed attempts per client address per failWindow; past it 429.
	failLimit  int
	failWindow time.Duration
	sessionTTL time.Duration
	now        func() time.Time

	mu       sync.Mutex
	failures map[string]*failCount
}

type failCount struct {
	start time.Time
	n     int
}

// Defaults of the failed-attempt limiter and the console session.
const (
	DefaultFailLimit  = 10
	DefaultFailWindow = time.Minute
	DefaultSessionTTL = 12 * time.Hour
	maxFailEntries    = 100_000
)

// SetCredentials replaces the credentials the listener accepts (at start-up). With
// none, every route but the open ones answers 401, unless AllowAnonymous was called.
func (s *Server) SetCredentials(creds []Credential) {
	kc := make([]keyedCred, len(creds))
	for i, c := range creds {
		kc[i] = keyedCred{Credential: c, digest: sha256.Sum256([]byte(c.Secret))}
	}
	s.auth.mu.Lock()
	s.auth.creds = kc
	s.auth.mu.Unlock()
}

// AllowAnonymous lets requests without a credential act as an admin named
// "anonymous" while no credential is set: development only (REFEDGE_DEV=1).
func (s *Server) AllowAnonymous() { s.auth.anonymous = true }

// SetFailLimit sets how many failed attempts a client address may make per window
// before it is answered 429.
func (s *Server) SetFailLimit(n int, window time.Duration) {
	s.auth.mu.Lock()
	s.auth.failLimit, s.auth.failWindow = n, window
	s.auth.mu.Unlock()
}

// match compares secret with every credential in constant time (each comparison is of
// SHA-256 digests, so lengths leak nothing) and returns the one it equals.
func (a *auth) match(secret string) (Credential, bool) {
	d := sha256.Sum256([]byte(secret))
	a.mu.Lock()
	creds := a.creds
	a.mu.Unlock()
	found := -1
	for i := range creds {
		if subtle.ConstantTimeCompare(d[:], creds[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Credential{}, false
	}
	return creds[found].Credential, true
}

// clientAddr is the peer's IP address (no port).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limited reports whether addr has used up its failed attempts for now.
func (a *auth) limited(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[addr]
	return f != nil && a.now().Sub(f.start) < a.failWindow && f.n >= a.failLimit
}

// failed counts one failed attempt from addr.
func (a *auth) failed(addr string) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) >= maxFailEntries {
		for k, f := range a.failures {
			if now.Sub(f.start) >= a.failWindow {
				delete(a.failures, k)
			}
		}
		if len(a.failures) >= maxFailEntries {
			clear(a.failures) // a flood from many addresses: start over rather than grow
		}
	}
	f := a.failures[addr]
	if f == nil || now.Sub(f.start) >= a.failWindow {
		f = &failCount{start: now}
		a.failures[addr] = f
	}
	f.n++
	failedAttempts.Inc()
}

// authResult is what authenticate found.
type authResult int

const (
	authNone    authResult = iota // no credential presented
	authOK                        // a valid credential
	authBad                       // a credential presented and wrong
	authLimited                   // too many failures from this address
)

// authenticate finds r's operator. Cookies count only for GET and HEAD: the console
// reads; everything that changes state takes a bearer token, so a page elsewhere
// cannot make a signed-in browser change anything.
func (a *auth) authenticate(r *http.Request) (Operator, authResult) {
	h, hasHeader := r.Header["Authorization"]
	if hasHeader {
		addr := clientAddr(r)
		if a.limited(addr) {
			return Operator{}, authLimited
		}
		secret, ok := strings.CutPrefix(strings.Join(h, ","), "Bearer ")
		if ok {
			if c, ok := a.match(strings.TrimSpace(secret)); ok {
				return Operator{Name: c.Name, Role: c.Role, Via: "token"}, authOK
			}
		}
		a.failed(addr)
		return Operator{}, authBad
	}
	if ck, err := r.Cookie(SessionCookie); err == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if op, ok := a.session(ck.Value); ok {
			return op, authOK
		}
		return Operator{}, authBad
	}
	a.mu.Lock()
	anon := a.anonymous && len(a.creds) == 0
	a.mu.Unlock()
	if anon {
		return Operator{Name: "anonymous", Role: RoleAdmin, Via: "anonymous"}, authOK
	}
	return Operator{}, authNone
}

// Console sessions: the cookie is name.expiry.mac, the MAC keyed by the credential's
// own secret. Nothing is kept server-side, every replica with the same credentials
// accepts it, and removing a credential ends its sessions.

// SessionCookie is the console's session cookie.
const SessionCookie = "rfe_adm"

// Console paths of the sign-in.
const (
	SignInPath  = "/admin/sign-in"
	SignOutPath = "/admin/sign-out"
)

func sessionMAC(secret, name string, exp int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "refedge admin session\x00%s\x00%d", name, exp)
	return hex.EncodeToString(m.Sum(nil))
}

func (a *auth) newSession(c Credential) (string, time.Time) {
	exp := a.now().Add(a.sessionTTL).Truncate(time.Second)
	return c.Name + "." + strconv.FormatInt(exp.Unix(), 10) + "." + sessionMAC(c.Secret, c.Name, exp.Unix()), exp
}

func (a *auth) session(v string) (Operator, bool) {
	if len(v) > 256 {
		return Operator{}, false
	}
	i := strings.LastIndexByte(v, '.')
	if i < 0 {
		return Operator{}, false
	}
	rest, mac := v[:i], v[i+1:]
	j := strings.LastIndexByte(rest, '.')
	if j < 0 {
		return Operator{}, false
	}
	name, expS := rest[:j], rest[j+1:]
	exp, err := strconv.ParseInt(expS, 10, 64)
	if err != nil || !a.now().Before(time.Unix(exp, 0)) {
		return Operator{}, false
	}
	a.mu.Lock()
	creds := a.creds
	a.mu.Unlock()
	for _, c := range creds {
		if c.Name == name && hmac.Equal([]byte(mac), []byte(sessionMAC(c.Secret, name, exp))) {
			return Operator{Name: c.Name, Role: c.Role, Via: "session"}, true
		}
	}
	return Operator{}, false
}

// refuse answers 401, 403 or 429. The body depends only on the status and on whether
// the route is a page, never on what was wrong with the credential.
func refuse(w http.ResponseWriter, r *http.Request, code int) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="refedge admin"`)
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "60")
	}
	msg := map[int]string{
		http.StatusUnauthorized:    "a valid operator credential is required",
		http.StatusForbidden:       "this credential's role may not do this",
		http.StatusTooManyRequests: "too many failed attempts from this address; wait a minute",
	}[code]
	if isPage(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = refusePage.Execute(w, map[string]any{"Code": code, "Msg": msg, "SignIn": SignInPath + "?next=" + templateQuery(r.URL.RequestURI())})
		return
	}
	Error(w, code, msg)
}

func templateQuery(s string) string {
	if !localAdminPage(s) {
		return "%2Fadmin%2F"
	}
	return template.URLQueryEscaper(s)
}

// isPage reports whether r asks for one of the console's HTML pages.
func isPage(r *http.Request) bool {
	p := r.URL.Path
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.HasPrefix(p, "/admin/") && !strings.HasPrefix(p, "/admin/v1/")
}

// localAdminPage accepts only the console's own pages as the target after sign-in.
func localAdminPage(p string) bool {
	return strings.HasPrefix(p, "/admin/") && !strings.HasPrefix(p, "/admin/v1/") && localpath.Plain(p)
}

var refusePage = template.Must(template.New("refuse").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>refedge operator console</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body><h1>{{.Code}}</h1><p>{{.Msg}}.</p><p><a id="sign-in" href="{{.SignIn}}">Sign in</a></p></body></html>
`))

var signInPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · refedge operator console</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}
input{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}button{font:inherit;padding:.4rem 1rem;margin-top:.8rem}
.err{color:#a00}</style>
</head><body><h1>refedge operator console</h1>
{{if .Failed}}<p class="err" id="sign-in-failed">Sign-in failed.</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="secret">Operator credential (the secret of a REFEDGE_ADMIN_TOKENS entry)</label>
<input id="secret" name="secret" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit" id="sign-in-submit">Sign in</button>
</form></body></html>
`))

func (s *Server) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !localAdminPage(next) {
		next = "/admin/"
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = signInPage.Execute(w, map[string]any{"Action": SignInPath, "Next": next})
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r)
	if s.auth.limited(addr) {
		refuse(w, r, http.StatusTooManyRequests)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		Error(w, http.StatusBadRequest, "want a form with secret")
		return
	}
	next := r.PostForm.Get("next")
	if !localAdminPage(next) {
		next = "/admin/"
	}
	c, ok := s.auth.match(r.PostForm.Get("secret"))
	if !ok {
		s.auth.failed(addr)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusUnauthorized)
		_ = signInPage.Execute(w, map[string]any{"Action": SignInPath, "Next": next, "Failed": true})
		return
	}
	v, exp := s.auth.newSession(c)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: v, Path: "/admin/", Expires: exp,
		MaxAge: int(time.Until(exp) / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/admin/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secureRequest(r)})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, SignInPath, http.StatusSeeOther)
}

// secureRequest reports whether the browser reached the console over HTTPS (directly,
// or through a proxy such as oauth2-proxy that says so).
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
