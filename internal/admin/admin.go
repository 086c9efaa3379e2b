// Package admin is refedge's internal listener: /healthz, /readyz (the process's own
// checks, and each dependency reported), /metrics, pprof, and the admin JSON API that
// other packages register.
// It uses net/http: nothing here is on the visitor's path.
//
// Every route has a role in one table (roles.go): open (probes, Prometheus, the
// sign-in page), viewer (reads) or admin (changes, partner credentials, pprof).
// Callers present an operator credential (auth.go); every call that is not a read is
// recorded in the audit trail (audit.go).
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency is usable.
type Check func(ctx context.Context) error

// Server is the admin listener's handler.
type Server struct {
	// BodyTimeout bounds reading one request body, from the handler's start; 0 means
	// DefaultBodyTimeout. http.Server's ReadHeaderTimeout covers only the headers, so
	// without it a client sending a body a byte at a time holds a connection forever.
	BodyTimeout time.Duration

	mux      *http.ServeMux
	mu       sync.Mutex
	checks   map[string]Check
	deps     map[string]Check
	features map[string]Check
	draining atomic.Bool
	log      *slog.Logger
	auth     auth
	audit    AuditSink
}

// DefaultBodyTimeout is BodyTimeout's default: the largest admin body (a banner
// master, 20 MB by default) at 1 MB/s.
const DefaultBodyTimeout = 20 * time.Second

// New returns a server with health, readiness, metrics and pprof registered.
func New(log *slog.Logger) *Server {
	s := &Server{mux: http.NewServeMux(), checks: map[string]Check{}, deps: map[string]Check{}, features: map[string]Check{}, log: log}
	s.auth = auth{failLimit: DefaultFailLimit, failWindow: DefaultFailWindow, sessionTTL: DefaultSessionTTL,
		now: time.Now, failures: map[string]*failCount{}}
	s.Handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	s.Handle("GET /readyz", s.readyz)
	s.Handle("GET /metrics", promhttp.Handler().ServeHTTP)
	s.Handle("/debug/pprof/", pprof.Index)
	s.Handle("/debug/pprof/cmdline", pprof.Cmdline)
	s.Handle("/debug/pprof/profile", oneAtATime("CPU profile", pprof.Profile))
	s.Handle("/debug/pprof/symbol", pprof.Symbol)
	s.Handle("/debug/pprof/trace", oneAtATime("execution trace", pprof.Trace))
	s.Handle("GET "+SignInPath, s.handleSignInPage)
	s.Handle("POST "+SignInPath, s.handleSignIn)
	s.Handle("POST "+SignOutPath, s.handleSignOut)
	s.Handle("GET /admin/v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		op, _ := OperatorOf(r)
		WriteJSON(w, http.StatusOK, map[string]string{"name": op.Name, "role": op.Role.String(), "via": op.Via})
	})
	return s
}

// oneAtATime runs h for one request at a time and answers 409 to the others. The CPU
// profiler and the execution tracer are process-wide: net/http/pprof answers a second
// concurrent request 500 ("already in use"), which reads as a server fault.
func oneAtATime(what string, h http.HandlerFunc) http.HandlerFunc {
	var busy sync.Mutex
	return func(w http.ResponseWriter, r *http.Request) {
		if !busy.TryLock() {
			w.Header().Set("Retry-After", "5")
			http.Error(w, "a "+what+" is already being taken; retry when it is done", http.StatusConflict)
			return
		}
		defer busy.Unlock()
		h(w, r)
	}
}

// AddCheck registers a readiness check under name: something without which this
// process cannot take traffic. A failing check makes /readyz answer 503.
func (s *Server) AddCheck(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = c
}

// AddDependency registers a dependency's check under name. /readyz reports it but stays
// 200 when it fails: refedge serves through a dependency's outage (degraded verdicts, the
// spool), and a load balancer taking every replica out at once would lose the clicks
// instead. /readyz?strict=1 fails on it too, for smoke tests after a deployment.
func (s *Server) AddDependency(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deps[name] = c
}

// AddFeature registers an optional feature's state under name: /readyz reports it under
// "features" ("ok", or "down: " and the error, which says what is off and why) and it
// never changes readiness, strict or not: the edge is complete without it.
func (s *Server) AddFeature(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.features[name] = c
}

// SetDraining makes /readyz answer 503 from now on: the process is shutting down and
// load balancers should stop sending it requests.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Handle registers an admin API handler (Go 1.22 ServeMux pattern). The pattern must
// have a role in the route table (roles.go); Handle panics otherwise, so a route
// nobody gave a role never serves.
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	if _, ok := routeRoles[pattern]; !ok {
		panic(fmt.Sprintf("admin: %q has no role in internal/admin's route table (roles.go): add it there", pattern))
	}
	s.mux.HandleFunc(pattern, h)
}

// ServeHTTP implements http.Handler: it finds the route, checks the caller's
// credential against the route's role, and records calls that are not reads.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.Body != http.NoBody {
		s.boundBody(w, r)
	}
	_, pattern := s.mux.Handler(r)
	role, ok := routeRoles[pattern]
	if !ok {
		// Not found, wrong method, or a redirect: say so only to a caller who may read.
		role = RoleViewer
	}
	// The mux serves the request itself, not h: ServeMux.ServeHTTP is what sets the
	// request's pattern and path values.
	if role == RoleOpen {
		s.mux.ServeHTTP(w, r)
		return
	}
	op, res := s.auth.authenticate(r)
	switch {
	case res == authLimited:
		refuse(w, r, http.StatusTooManyRequests)
		return
	case res != authOK:
		refuse(w, r, http.StatusUnauthorized)
		return
	case op.Role < role:
		refuse(w, r, http.StatusForbidden)
		return
	}
	ctx := withOperator(r.Context(), op)
	if !audited(r.Method) || pattern == "" {
		s.mux.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	rec := &auditRecord{}
	sw := &statusWriter{ResponseWriter: w}
	defer func() { s.record(r, op, pattern, rec, sw.status) }()
	s.mux.ServeHTTP(sw, r.WithContext(withAudit(ctx, rec)))
}

// boundBody sets a read deadline for r's body and clears it once the body has been
// read, so it never cuts short a handler that works on after reading (once the body is
// read, net/http watches the connection for the client going away, and a deadline
// there would cancel the request's context).
func (s *Server) boundBody(w http.ResponseWriter, r *http.Request) {
	d := s.BodyTimeout
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return // not a connection that supports deadlines (tests' recorders)
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

// deadlineBody clears the connection's read deadline when the whole body has been
// read. On any other error the deadline stays: net/http reads what is left of an
// unread body before answering, and that read must fail fast too.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	checks, deps, features := maps.Clone(s.checks), maps.Clone(s.deps), maps.Clone(s.features)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checkStatus, checksOK := runChecks(ctx, checks)
	depStatus, depsOK := runChecks(ctx, deps)
	featureStatus, _ := runChecks(ctx, features)
	ready := checksOK && !s.draining.Load()
	if r.URL.Query().Get("strict") == "1" {
		ready = ready && depsOK
	}
	code := http.StatusOK
	if !ready {
		code = http.StatusServiceUnavailable
	}
	WriteJSON(w, code, map[string]any{"ready": ready, "draining": s.draining.Load(), "degraded": !depsOK,
		"checks": checkStatus, "dependencies": depStatus, "features": featureStatus})
}

// runChecks runs every check at once and reports "ok" or "down: <error>" for each.
func runChecks(ctx context.Context, checks map[string]Check) (map[string]string, bool) {
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks))
	for n, c := range checks {
		go func() { results <- result{n, c(ctx)} }()
	}
	status := make(map[string]string, len(checks))
	ok := true
	for range checks {
		res := <-results
		if res.err != nil {
			ok = false
			status[res.name] = "down: " + res.err.Error()
		} else {
			status[res.name] = "ok"
		}
	}
	return status, ok
}

// WriteJSON writes v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error writes {"error": msg} with status code.
func Error(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}

// MaxBody bounds admin request bodies unless a handler says otherwise.
const MaxBody = 1 << 20

// DecodeJSON reads a JSON body of at most MaxBody bytes into v, rejecting unknown fields.
// On failure it has already answered 400 or 413 and returns false.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooBig):
			Error(w, http.StatusRequestEntityTooLarge, "body too large")
		case errors.As(err, &netErr) && netErr.Timeout():
			Error(w, http.StatusRequestTimeout, "body not received in time")
		default:
			Error(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %v", err))
		}
		return false
	}
	return true
}
