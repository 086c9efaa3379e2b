package main

import (
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
)

// mutation says which parameter of a route gets which payload. The zero mutation is
// the baseline request.
type mutation struct {
	where string // "path", "query", "json", "body", "header", "cookie", "method", "shape"
	name  string
	p     payload
	token bool // json: p.value is raw JSON, not a string
}

func (m mutation) String() string {
	if m.where == "" {
		return "baseline"
	}
	switch m.where {
	case "body":
		return "body"
	case "method", "shape":
		return m.where
	}
	return m.where + ":" + m.name
}

// hcall is one request of the sweep, ready to send.
type hcall struct {
	route   *hroute
	method  string // the request's method: the route's, or a method mutation's
	mut     mutation
	addr    string
	raw     []byte
	timeout time.Duration
}

func (c *hcall) String() string {
	p := c.mut.p.name
	if c.mut.where == "" {
		p = "-"
	}
	return fmt.Sprintf("route=%s (%s %s) param=%s payload=%s", c.route.name, c.method, c.route.path, c.mut, p)
}

// hfixture holds the ids, credentials and bodies that make baseline requests valid.
type hfixture struct {
	public, admin string // host:port
	vals          map[string]string
	// dead is set once refedge is found gone (a refused connection and no process):
	// the phases stop, and the test reports the death and its log once.
	dead  atomic.Bool
	alive func() bool
	logs  func() string // refedge's log so far
}

// gone reports whether err means refedge has died (and records it).
func (fx *hfixture) gone(err error) bool {
	if fx.dead.Load() {
		return true
	}
	if err != nil && strings.Contains(err.Error(), "connection refused") && !fx.alive() {
		fx.dead.Store(true)
	}
	return fx.dead.Load()
}

// subst replaces every "{x}" in s with the fixture's x, in one pass (values are not
// scanned again); braces that name no fixture value (JSON) stay.
func (fx *hfixture) subst(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		if v, ok := fx.vals[s[i+1:i+j]]; ok {
			b.WriteString(s[:i])
			b.WriteString(v)
			s = s[i+j+1:]
		} else {
			b.WriteString(s[:i+1])
			s = s[i+1:]
		}
	}
}

// build returns route r's request with mutation m applied.
func (fx *hfixture) build(r *hroute, m mutation) hcall {
	c := hcall{route: r, method: r.method, mut: m, addr: fx.public, timeout: hostileTimeout}
	if m.where == "method" {
		c.method = m.p.value
	}
	if r.admin {
		c.addr = fx.admin
	}
	if r.timeout > 0 {
		c.timeout = r.timeout
	}
	var b strings.Builder
	b.WriteString(c.method)
	b.WriteByte(' ')
	// Path: fixture values are URL-safe already; payloads are escaped unless raw.
	segs := strings.Split(r.path, "/")
	for i, s := range segs {
		if len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' {
			name := s[1 : len(s)-1]
			switch {
			case m.where == "path" && m.name == name:
				segs[i] = encodePath(m.p)
			default:
				segs[i] = fx.vals[name]
			}
		}
	}
	b.WriteString(strings.Join(segs, "/"))
	var q strings.Builder
	for i, kv := range r.query {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(kv.k)
		q.WriteByte('=')
		if m.where == "query" && m.name == kv.k {
			q.WriteString(encodeQuery(m.p))
		} else {
			q.WriteString(url.QueryEscape(fx.subst(kv.v)))
		}
	}
	query := q.String()
	if m.where == "shape" {
		query = strings.NewReplacer("{query}", query, "{query;}", strings.ReplaceAll(query, "&", ";")).Replace(m.p.value)
	}
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	b.WriteString(" HTTP/1.1\r\n")

	// Headers, in order; a mutation replaces its header's value or adds the header.
	headers := []kv{{"Host", c.addr}}
	if r.admin {
		// The sweep calls admin routes as an admin: it is after the handlers' faults;
		// TestAdminRoles checks what lesser credentials get.
		if role, _ := admin.RoleOf(strings.TrimPrefix(r.reg, "admin ")); role != admin.RoleOpen {
			headers = append(headers, kv{"Authorization", admintest.Bearer(admintest.AdminSecret)})
		}
	}
	switch r.auth {
	case "tokenA":
		headers = append(headers, kv{"Authorization", "Bearer " + fx.vals["tokA"]})
	}
	for _, h := range r.headers {
		headers = append(headers, kv{h.k, fx.subst(h.v)})
	}
	cookies := append([]kv{}, r.cookies...)
	if r.auth == "sessionA" {
		cookies = append(cookies, kv{"rfe_ps", "{sessA}"})
	}
	var cookie []string
	for _, ck := range cookies {
		v := fx.subst(ck.v)
		if m.where == "cookie" && m.name == ck.k {
			v = m.p.value
		}
		cookie = append(cookie, ck.k+"="+v)
	}
	if len(cookie) > 0 {
		headers = append(headers, kv{"Cookie", strings.Join(cookie, "; ")})
	}
	body, hasBody := fx.body(r, m)
	if hasBody && r.ctype != "" {
		headers = append(headers, kv{"Content-Type", r.ctype})
	}
	if m.where == "header" {
		found := false
		for i := range headers {
			if strings.EqualFold(headers[i].k, m.name) {
				headers[i].v, found = m.p.value, true
			}
		}
		if !found {
			headers = append(headers, kv{m.name, m.p.value})
		}
	}
	for _, h := range headers {
		b.WriteString(h.k)
		b.WriteString(": ")
		b.WriteString(h.v)
		b.WriteString("\r\n")
	}
	if hasBody {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	// Last, so no payload can undo it: one exchange per connection.
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(body)
	c.raw = []byte(b.String())
	return c
}

// body returns the request body with m applied, and whether the request has one.
func (fx *hfixture) body(r *hroute, m mutation) (string, bool) {
	if m.where == "body" {
		return m.p.value, true
	}
	if r.json != nil {
		var b strings.Builder
		b.WriteByte('{')
		fields := append([]kv{}, r.json...)
		if m.where == "json" {
			known := false
			for _, f := range fields {
				known = known || f.k == m.name
			}
			if !known {
				fields = append(fields, kv{m.name, ""})
			}
		}
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(jsonString(f.k))
			b.WriteByte(':')
			switch {
			case m.where == "json" && m.name == f.k && m.token:
				b.WriteString(m.p.value)
			case m.where == "json" && m.name == f.k:
				b.WriteString(jsonString(m.p.value))
			default:
				b.WriteString(fx.subst(f.v))
			}
		}
		b.WriteByte('}')
		return b.String(), true
	}
	if r.body != "" {
		return fx.subst(r.body), true
	}
	return "", r.method == "POST" || r.method == "PUT"
}

// encodePath puts a payload into a path segment: raw payloads as they are, others with
// every byte outside RFC 3986 unreserved and '/' percent-encoded (so "../" stays a
// traversal attempt).
func encodePath(p payload) string {
	if p.raw {
		return p.value
	}
	var b strings.Builder
	for i := 0; i < len(p.value); i++ {
		c := p.value[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func encodeQuery(p payload) string {
	if p.raw {
		return p.value
	}
	return url.QueryEscape(p.value)
}

// sweepCalls returns every request of the sweep: each route's baseline, then each of
// its parameters with each payload that applies.
func (fx *hfixture) sweepCalls() []hcall {
	var out []hcall
	headerSet := headerPayloads()
	for i := range hostileRoutes {
		r := &hostileRoutes[i]
		pl, hdrs, hdrSet := hostilePayloads, commonHeaders, headerSet
		switch {
		case r.slowOK:
			pl, hdrs, hdrSet = slowPayloads(), []string{"Host"}, miniHeaderPayloads()
		case r.heavy:
			// Header parsing is the listener's, the same for every route (the light
			// routes cover it); a heavy handler reads only its own headers.
			pl, hdrs, hdrSet = reducedPayloads(), []string{"Host", "Cookie"}, miniHeaderPayloads()
		}
		add := func(m mutation) { out = append(out, fx.build(r, m)) }
		add(mutation{})
		var params []mutation
		for _, s := range strings.Split(r.path, "/") {
			if len(s) > 2 && s[0] == '{' {
				params = append(params, mutation{where: "path", name: s[1 : len(s)-1]})
			}
		}
		for _, q := range r.query {
			params = append(params, mutation{where: "query", name: q.k})
		}
		for _, h := range r.headers {
			params = append(params, mutation{where: "header", name: h.k})
		}
		for _, c := range r.cookies {
			params = append(params, mutation{where: "cookie", name: c.k})
		}
		switch r.auth {
		case "tokenA":
			params = append(params, mutation{where: "header", name: "Authorization"})
		case "sessionA":
			params = append(params, mutation{where: "cookie", name: "rfe_ps"})
		}
		for _, m := range params {
			for _, p := range pl {
				m.p = p
				add(m)
			}
		}
		if r.json != nil {
			fields := append([]string{}, r.extraJSON...)
			for _, f := range r.json {
				fields = append(fields, f.k)
			}
			for _, f := range fields {
				for _, p := range pl {
					add(mutation{where: "json", name: f, p: p})
				}
				for _, p := range jsonTokens {
					add(mutation{where: "json", name: f, p: p, token: true})
				}
			}
		}
		if r.bodyFuzz {
			for _, p := range bodyPayloads {
				add(mutation{where: "body", p: p})
			}
		}
		if !r.slowOK { // there every request samples for as long as the baseline asks
			for _, p := range methodPayloads {
				if p.value != r.method {
					add(mutation{where: "method", p: p})
				}
			}
			for _, p := range queryShapes(r) {
				add(mutation{where: "shape", p: p})
			}
		}
		covered := map[string]bool{}
		for _, m := range params {
			if m.where == "header" {
				covered[strings.ToLower(m.name)] = true
			}
		}
		for _, h := range hdrs {
			if covered[strings.ToLower(h)] {
				continue
			}
			for _, p := range hdrSet {
				add(mutation{where: "header", name: h, p: p})
			}
		}
	}
	return out
}

// headerPayloads is the smaller set sent in headers every route receives.
func headerPayloads() []payload {
	return pick("sql-quote", "xss-script", "xss-attr-break", "utf8-invalid", "nul", "crlf-header", "lf-header",
		"long-9k", "homoglyph-host", "pct-crlf", "empty", "controls", "scheme-relative", "num-huge")
}

// methodPayloads replace a route's method.
var methodPayloads = []payload{
	{name: "GET", value: "GET"}, {name: "HEAD", value: "HEAD"}, {name: "POST", value: "POST"}, {name: "PUT", value: "PUT"},
	{name: "DELETE", value: "DELETE"}, {name: "PATCH", value: "PATCH"}, {name: "OPTIONS", value: "OPTIONS"},
	{name: "TRACE", value: "TRACE"}, {name: "PROPFIND", value: "PROPFIND"}, {name: "lower-get", value: "get"},
}

// queryShapes are malformed query strings: "{query}" is the baseline's.
func queryShapes(r *hroute) []payload {
	first := "ref"
	if len(r.query) > 0 {
		first = r.query[0].k
	}
	return []payload{
		{name: "duplicate-params", value: "{query}&{query}&" + first + "=%3Cscript%3Ehx7331()%3C%2Fscript%3E"},
		{name: "array-params", value: first + "[]=x&" + first + "[a]=y&{query}"},
		{name: "keys-without-values", value: "{query}&" + first + "&&&=&=x&"},
		{name: "many-params", value: "{query}" + strings.Repeat("&p=1", 1500)},
		{name: "question-marks", value: "?{query}??#frag"},
		{name: "semicolons", value: "{query;};" + first + "=x"},
		{name: "encoded-keys", value: "{query}&%72%65%66=x&%00=y&%E2%80%AE=z"},
	}
}

// miniHeaderPayloads is the header set of heavy routes: what breaks header parsing.
func miniHeaderPayloads() []payload {
	return pick("crlf-header", "nul", "long-9k", "xss-script", "utf8-invalid")
}

// reducedPayloads is the parameter set of heavy routes: one or two of each kind.
func reducedPayloads() []payload {
	return pick("sql-quote", "xss-script", "xss-attr-break", "utf8-invalid", "nul", "crlf-header", "long-9k",
		"empty", "pct-nul", "pct-crlf", "pct-double-dots", "traversal", "homoglyph-host", "num-negative",
		"num-huge", "num-int64-overflow", "num-nan", "json-text")
}

// slowPayloads is the set for parameters that make pprof sample for as long as asked:
// each costs the exchange's whole timeout when the server takes it as valid.
func slowPayloads() []payload {
	return pick("sql-quote", "xss-script", "nul", "pct-nul", "crlf-header", "long-3k", "empty",
		"num-negative", "num-zero", "num-huge", "num-int64-overflow", "num-float-overflow", "num-nan", "num-inf", "num-hex")
}

func pick(names ...string) []payload {
	var out []payload
	for _, n := range names {
		for _, p := range hostilePayloads {
			if p.name == n {
				out = append(out, p)
			}
		}
	}
	if len(out) != len(names) {
		panic(fmt.Sprintf("pick: unknown payload among %v", names))
	}
	return out
}
