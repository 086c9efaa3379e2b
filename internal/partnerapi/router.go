package partnerapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/valyala/fasthttp"
)

// Handler serves one authenticated partner request.
type Handler func(ctx *fasthttp.RequestCtx, p Principal)

type route struct {
	method  string
	pattern string // exact, or a prefix when it ends with '/'
	h       Handler
}

// Router dispatches /api/v1/ requests (and partner pages) to handlers after
// authentication. Registration happens at start-up; serving is read-only.
type Router struct {
	auth   *Auth
	routes []route
	log    *slog.Logger
}

// NewRouter returns a router that authenticates with auth.
func NewRouter(auth *Auth, log *slog.Logger) *Router {
	if log == nil {
		log = slog.Default()
	}
	return &Router{auth: auth, log: log}
}

// Handle registers h for method and pattern ("/api/v1/stats", or "/api/v1/widgets/" for
// the prefix). Earlier registrations win.
func (r *Router) Handle(method, pattern string, h Handler) {
	r.routes = append(r.routes, route{method, pattern, h})
}

// Serve authenticates and dispatches ctx. Unknown paths are 404, wrong methods 405, a
// missing or bad credential 401, and a cookie-authenticated write from another origin 403.
func (r *Router) Serve(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	method := string(ctx.Method())
	var match *route
	pathKnown := false
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.pattern == path || strings.HasSuffix(rt.pattern, "/") && strings.HasPrefix(path, rt.pattern) {
			pathKnown = true
			if rt.method == method || method == fasthttp.MethodHead && rt.method == fasthttp.MethodGet {
				match = rt
				break
			}
		}
	}
	switch {
	case !pathKnown:
		Error(ctx, fasthttp.StatusNotFound, "not found")
		return
	case match == nil:
		Error(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
		return
	}
	p, err := r.auth.Authenticate(ctx)
	if err != nil {
		if !errors.Is(err, ErrUnauthenticated) {
			r.log.Warn("partner authentication failed", "err", err)
			Error(ctx, fasthttp.StatusServiceUnavailable, "authentication temporarily unavailable")
			return
		}
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="refedge"`)
		Error(ctx, fasthttp.StatusUnauthorized, "a valid partner token or session is required")
		return
	}
	if p.ViaSession && !isSafe(method) && !r.auth.SameOrigin(ctx) {
		Error(ctx, fasthttp.StatusForbidden, "cross-origin request refused")
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Vary", "Authorization, Cookie")
	match.h(ctx, p)
}

func isSafe(method string) bool {
	return method == fasthttp.MethodGet || method == fasthttp.MethodHead || method == fasthttp.MethodOptions
}

// WriteJSON answers code with v as JSON.
func WriteJSON(ctx *fasthttp.RequestCtx, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		Error(ctx, fasthttp.StatusInternalServerError, "cannot encode response")
		return
	}
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(code)
	ctx.SetBody(b)
}

// Error answers code with {"error": msg}.
func Error(ctx *fasthttp.RequestCtx, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(code)
	ctx.SetBody(b)
}

// WantsCSV reports whether the client asked for CSV (Accept: text/csv or ?format=csv).
func WantsCSV(ctx *fasthttp.RequestCtx) bool {
	return strings.Contains(string(ctx.Request.Header.Peek("Accept")), "text/csv") ||
		string(ctx.QueryArgs().Peek("format")) == "csv"
}

// DecodeJSON reads the request body (at most maxBytes) into v, rejecting unknown
// fields. On failure it has already answered 400 or 413 and returns false.
func DecodeJSON(ctx *fasthttp.RequestCtx, v any, maxBytes int) bool {
	body := ctx.PostBody()
	if len(body) > maxBytes {
		Error(ctx, fasthttp.StatusRequestEntityTooLarge, "body too large")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Error(ctx, fasthttp.StatusBadRequest, "invalid JSON body: "+err.Error())
		return false
	}
	return true
}
