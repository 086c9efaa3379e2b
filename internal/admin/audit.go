package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	failedAttempts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_admin_auth_failures_total",
		Help: "Admin requests and sign-ins that presented a wrong operator credential.",
	})
	auditDropped = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_admin_audit_dropped_total",
		Help: "Audit entries the audit sink refused (its queue was full or it was stopped).",
	})
)

// AuditEntry is one state-changing admin call: who (the credential's name, never its
// secret), when, what, the answer, and the target's state before and after where the
// handler could say. Before and After are JSON, scrubbed of secrets.
type AuditEntry struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Operator string    `json:"operator"`
	Role     string    `json:"role"`
	Via      string    `json:"via"`
	Method   string    `json:"method"`
	Route    string    `json:"route"` // the mux pattern
	Path     string    `json:"path"`
	Target   string    `json:"target"`            // e.g. "partner:p1", "token:abc", "kwork:42"
	Partner  string    `json:"partner,omitempty"` // the partner the target belongs to, if any
	Status   int       `json:"status"`
	Before   string    `json:"before,omitempty"`
	After    string    `json:"after,omitempty"`
	Client   string    `json:"client"`
}

// AuditSink takes audit entries. Record must not block: it queues (and spools) the
// entry and returns; false means the entry was dropped.
type AuditSink interface {
	Record(e *AuditEntry) bool
}

// SetAuditSink sets where state-changing calls are recorded.
func (s *Server) SetAuditSink(a AuditSink) { s.audit = a }

// auditRecord is the per-request recorder handlers annotate.
type auditRecord struct {
	mu      sync.Mutex
	target  string
	partner string
	before  any
	after   any
	set     bool
}

type auditKey struct{}

// AuditChange records what a state-changing admin call did to target ("partner:p1",
// "token:<id>", ...): its state before and after (nil where there is none or it is not
// known). Fields that hold secrets (tokens, login links, passwords) are scrubbed
// before the entry is written. Outside an audited request it does nothing.
func AuditChange(r *http.Request, target string, before, after any) {
	rec, _ := r.Context().Value(auditKey{}).(*auditRecord)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	rec.target, rec.before, rec.after, rec.set = target, before, after, true
	rec.mu.Unlock()
}

// AuditPartner names the partner an audited call concerns, for the console's
// per-partner trail, when the target itself is not the partner (a token, a link).
func AuditPartner(r *http.Request, partner string) {
	rec, _ := r.Context().Value(auditKey{}).(*auditRecord)
	if rec == nil {
		return
	}
	rec.mu.Lock()
	rec.partner = partner
	rec.mu.Unlock()
}

func withAudit(ctx context.Context, rec *auditRecord) context.Context {
	return context.WithValue(ctx, auditKey{}, rec)
}

// audited reports whether a request with this method is recorded: everything that is
// not a read.
func audited(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// secretField matches JSON object keys whose values are never written to the trail.
var secretField = regexp.MustCompile(`(?i)^(token|secret|password|url|link|login_link|authorization|cookie|session)$`)

// scrub returns v as JSON with every secret-bearing field's value replaced. Strings
// that look like partner credentials (signed kind.partner.id.expiry.mac values) are
// replaced wherever they are.
func scrub(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	var generic any
	if json.Unmarshal(b, &generic) != nil {
		return ""
	}
	out, err := json.Marshal(scrubValue(generic))
	if err != nil {
		return ""
	}
	return string(out)
}

func scrubValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if secretField.MatchString(k) {
				t[k] = "[scrubbed]"
				continue
			}
			t[k] = scrubValue(e)
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = scrubValue(e)
		}
		return t
	case string:
		if credentialLike.MatchString(t) {
			return "[scrubbed]"
		}
		return t
	}
	return v
}

// credentialLike matches a signed partner credential (pt1./pl1./ps1. ...) or a string
// that carries one in a query.
var credentialLike = regexp.MustCompile(`\bp[tls]1\.[A-Za-z0-9_-]+\.[0-9a-f]+\.[0-9]+\.|[?&]t=`)

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// record hands the entry of one audited call to the sink.
func (s *Server) record(r *http.Request, op Operator, pattern string, rec *auditRecord, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	rec.mu.Lock()
	e := &AuditEntry{
		ID: newAuditID(), Time: time.Now().UTC(), Operator: op.Name, Role: op.Role.String(), Via: op.Via,
		Method: r.Method, Route: pattern, Path: scrubPath(r.URL.Path), Target: rec.target, Partner: rec.partner,
		Status: status, Client: clientAddr(r),
	}
	if rec.set {
		e.Before, e.After = scrub(rec.before), scrub(rec.after)
	}
	rec.mu.Unlock()
	if e.Target == "" {
		e.Target = e.Path
	}
	if e.Partner == "" {
		e.Partner, _ = strings.CutPrefix(e.Target, "partner:")
		if e.Partner == e.Target {
			e.Partner = ""
		}
	}
	if s.audit == nil {
		return
	}
	if !s.audit.Record(e) {
		auditDropped.Inc()
		s.log.Warn("audit entry dropped", "operator", e.Operator, "method", e.Method, "route", e.Route, "status", e.Status)
	}
}

// scrubPath bounds the recorded path; admin paths carry ids, never secrets.
func scrubPath(p string) string {
	if len(p) > 512 {
		p = p[:512]
	}
	if credentialLike.MatchString(p) {
		return "[scrubbed]"
	}
	return p
}

func newAuditID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
