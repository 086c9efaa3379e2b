package main

import (
	"time"
)

// kv is one name, value pair in order.
type kv struct{ k, v string }

// hroute is one route of a listener as the hostile suite exercises it: a baseline
// request (every value valid, taken from the fixture where it names one: "{A}" is
// partner A's id) and the parameters whose values the suite replaces with payloads.
type hroute struct {
	name   string // unique; it names the route in failure messages
	admin  bool   // served by the admin listener (else the public one)
	method string
	// path is the request path; a segment "{x}" is a path parameter, fuzzed, whose
	// baseline value is the fixture's x.
	path string
	// reg is what serve.go registers that this route exercises: "admin <mux pattern>",
	// "api <METHOD> <router pattern>", or "public <tracker.Routes field>" (plus
	// "public click" and "public passthrough" for the tracker's own two). The drift test
	// compares these with the source.
	reg   string
	query []kv // baseline query parameters, all fuzzed
	// json is the baseline JSON body as fields with raw JSON values, all fuzzed; nil
	// means none. extraJSON are fields fuzzed by adding them to the baseline.
	json      []kv
	extraJSON []string
	body      string // a raw baseline body (when json is nil); its name in the fixture if "{x}"
	bodyFuzz  bool   // send bodyPayloads as the whole body
	ctype     string // Content-Type of the baseline body
	auth      string // "tokenA": Authorization: Bearer; "sessionA": the dashboard cookie
	headers   []kv   // baseline headers beyond the common ones, all fuzzed
	cookies   []kv   // baseline cookies, all fuzzed
	// timeout bounds one exchange (default hostileTimeout); slowOK says a timeout is
	// not a failure (pprof samples for as long as it is asked to).
	timeout time.Duration
	slowOK  bool
	// heavy routes query ClickHouse, profile the process or render images on every
	// request: they get reducedPayloads, and headers only their own and Host, Cookie.
	heavy bool
	// lane names a group of routes that run with a concurrency of their own
	// (hostileLanes): the review allows two requests at once and answers 429 beyond.
	lane string
}

// browserHeaders are what a browser navigation sends; a click without them is a bot's.
var browserHeaders = []kv{
	{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"},
	{"Accept", "text/html,application/xhtml+xml"},
	{"Accept-Language", "en-US,en;q=0.9"},
	{"Referer", "https://blog.example/post"},
	{"X-Forwarded-For", "203.0.113.7"},
}

var pngBody = "{png}"

// hostileRoutes is every route of both listeners (serve.go wires them; the drift test
// keeps this table in step). Add a route here when serve.go registers one.
var hostileRoutes = []hroute{
	// Public listener: the tracker's own dispatch (tracker/router.go).
	{name: "click", method: "GET", path: "/{clickpath}", reg: "public click",
		query:   []kv{{"ref", "{A}"}, {"src", "link"}, {"cr", "services-468x60"}, {"sub", "s1"}, {"utm_medium", "email"}, {"x", "1"}},
		headers: append(append([]kv{}, browserHeaders...), kv{"Sec-Fetch-Dest", "document"}, kv{"Sec-Fetch-Mode", "navigate"}, kv{"Sec-Fetch-User", "?1"}, kv{"Sec-Fetch-Site", "cross-site"}, kv{"Sec-CH-UA", `"Chromium";v="156"`}, kv{"X-Forwarded-Proto", "https"}, kv{"Sec-Purpose", "prefetch"}),
		cookies: []kv{{"rfe_vid", "{vid}"}, {"rfe_ref", "{ref}"}}},
	{name: "click-head", method: "HEAD", path: "/{clickpath}", reg: "public click",
		query: []kv{{"ref", "{A}"}, {"sub", "s1"}}, headers: browserHeaders},
	{name: "passthrough", method: "GET", path: "/{clickpath}", reg: "public passthrough",
		query: []kv{{"q", "design"}}, headers: []kv{{"Referer", "https://blog.example/"}}},

	// Beacon (Routes.Beacon).
	{name: "beacon-js", method: "GET", path: "/v.js", reg: "public Beacon", headers: []kv{{"If-None-Match", `"x"`}}},
	{name: "beacon-report", method: "POST", path: "/v", reg: "public Beacon", ctype: "text/plain",
		json:    []kv{{"t", `"{chk}"`}, {"top", "true"}, {"w", "1280"}, {"h", "800"}, {"vis", `"visible"`}, {"focus", "true"}, {"opener", "false"}},
		headers: []kv{{"Origin", hostileOrigin}}, cookies: []kv{{"rfe_chk", "{chk}"}, {"rfe_ref", "{ref}"}}, bodyFuzz: true},
	{name: "beacon-preflight", method: "OPTIONS", path: "/v", reg: "public Beacon",
		headers: []kv{{"Origin", hostileOrigin}, {"Access-Control-Request-Method", "POST"}, {"Access-Control-Request-Headers", "content-type"}}},

	// Widgets (Routes.Widget).
	{name: "widget-loader", method: "GET", path: "/w/{wjs}", reg: "public Widget", headers: []kv{{"If-None-Match", `"1-x"`}, {"Referer", "https://blog.example/"}}},
	{name: "widget-frame", method: "GET", path: "/w/{wid}", reg: "public Widget", headers: browserHeaders},
	{name: "widget-view", method: "POST", path: "/w/{wid}/view", reg: "public Widget", body: "{view}", bodyFuzz: true, ctype: "text/plain",
		headers: browserHeaders},
	{name: "widget-thumb", method: "GET", path: "/w/t/{kw}/{tsize}", reg: "public Widget", query: []kv{{"v", "0"}},
		headers: []kv{{"If-None-Match", `"x"`}}},
	{name: "widget-builder", method: "GET", path: "/w/builder", reg: "public Widget", auth: "sessionA"},
	{name: "widget-preview", method: "GET", path: "/w/preview", reg: "public Widget", auth: "sessionA",
		query: []kv{{"category", "hx-design"}, {"size", "300x250"}, {"theme", "dark"}, {"accent", "#112233"}, {"language", "ru"},
			{"cards", "4"}, {"rotation_seconds", "5"}, {"kwork_ids", ""}}},

	// Banners (Routes.Banners).
	{name: "banner-image", method: "GET", path: "/b/{cr}/{bsize}", reg: "public Banners", query: []kv{{"ref", "{A}"}, {"v", "1"}},
		headers: append(append([]kv{}, browserHeaders...), kv{"If-None-Match", `"x"`}), cookies: []kv{{"rfe_vid", "{vid}"}}},
	{name: "banner-materials", method: "GET", path: "/b/materials", reg: "public Banners", query: []kv{{"ref", "{A}"}}},

	// Partner API (Routes.API; partnerapi.Router).
	{name: "api-stats", heavy: true, method: "GET", path: "/api/v1/stats", reg: "api GET /api/v1/stats", auth: "tokenA",
		query:   []kv{{"from", "2026-01-01"}, {"to", "2026-01-08"}, {"interval", "day"}, {"top", "5"}, {"part", "series"}, {"format", "json"}, {"range", ""}},
		headers: []kv{{"Accept", "application/json"}}},
	{name: "api-referrals", heavy: true, method: "GET", path: "/api/v1/referrals", reg: "api GET /api/v1/referrals", auth: "tokenA",
		query: []kv{{"status", "active"}, {"limit", "10"}, {"offset", "0"}, {"format", "csv"}}},
	{name: "api-earnings", heavy: true, method: "GET", path: "/api/v1/earnings", reg: "api GET /api/v1/earnings", auth: "tokenA",
		query: []kv{{"range", "30d"}, {"interval", "month"}, {"to", "2026-02-01T00:00:00Z"}}},
	{name: "api-clicks", heavy: true, method: "GET", path: "/api/v1/clicks", reg: "api GET /api/v1/clicks", auth: "tokenA",
		query: []kv{{"range", "48h"}, {"verdict", "flagged"}, {"limit", "5"}}, headers: []kv{{"Accept", "text/csv"}}},
	{name: "api-links", method: "POST", path: "/api/v1/links", reg: "api POST /api/v1/links", auth: "tokenA", ctype: "application/json",
		json: []kv{{"url", `"` + hostileOrigin + `/categories/design?x=1"`}, {"sub", `"s1"`}, {"src", `"qr"`}}, bodyFuzz: true},
	{name: "api-banners", method: "GET", path: "/api/v1/banners", reg: "api GET /api/v1/banners", auth: "tokenA",
		headers: []kv{{"Accept", "text/csv"}}},
	{name: "api-widgets-create", method: "POST", path: "/api/v1/widgets", reg: "api POST /api/v1/widgets", auth: "tokenA", ctype: "application/json",
		json: []kv{{"name", `"hx"`}, {"category", `"hx-design"`}, {"size", `"300x250"`}, {"theme", `"light"`}, {"accent", `"#1f7a4d"`},
			{"cards", "3"}, {"rotation_seconds", "4"}, {"language", `"en"`}},
		extraJSON: []string{"kwork_ids"}, bodyFuzz: true},
	{name: "api-widgets-list", method: "GET", path: "/api/v1/widgets", reg: "api GET /api/v1/widgets", auth: "tokenA"},
	{name: "api-widgets-get", method: "GET", path: "/api/v1/widgets/{wapi}", reg: "api GET /api/v1/widgets/", auth: "tokenA"},
	{name: "api-widgets-update", method: "PUT", path: "/api/v1/widgets/{wapi}", reg: "api PUT /api/v1/widgets/", auth: "tokenA", ctype: "application/json",
		json: []kv{{"name", `"hx"`}, {"category", `"hx-design"`}, {"size", `"300x250"`}, {"cards", "3"}}, extraJSON: []string{"kwork_ids"}, bodyFuzz: true},
	{name: "api-widgets-delete", method: "DELETE", path: "/api/v1/widgets/{wdel}", reg: "api DELETE /api/v1/widgets/", auth: "tokenA"},
	{name: "api-unknown", method: "GET", path: "/api/v1/{apiname}", reg: "public API", auth: "tokenA"},

	// Partner pages (Routes.Dashboard: the link builder's pages, then the dashboard).
	{name: "dashboard", heavy: true, method: "GET", path: "/partner", reg: "public Dashboard", auth: "sessionA",
		query: []kv{{"from", "2026-01-01"}, {"to", "2026-01-08"}, {"interval", "day"}, {"range", ""}}},
	{name: "dashboard-login", method: "GET", path: "/partner/login", reg: "public Dashboard",
		query: []kv{{"t", "{login}"}, {"next", "/partner"}}, cookies: []kv{{"rfe_vid", "{vid}"}}},
	{name: "dashboard-logout", method: "POST", path: "/partner/logout", reg: "public Dashboard", auth: "sessionA",
		headers: []kv{{"Origin", "{public}"}, {"Referer", "{public}/partner"}}},
	{name: "dashboard-static", method: "GET", path: "/partner/static/{dasset}", reg: "public Dashboard", query: []kv{{"v", "1"}},
		headers: []kv{{"If-None-Match", `"x"`}}},
	{name: "links-page", method: "GET", path: "/partner/links", reg: "public Dashboard", auth: "sessionA"},
	{name: "links-static", method: "GET", path: "/partner/links/static/{lasset}", reg: "public Dashboard"},
	{name: "partner-ui-static", method: "GET", path: "/partner/ui/{uasset}", reg: "public Dashboard", query: []kv{{"v", "1"}}},
	{name: "partner-lang", method: "GET", path: "/partner/lang", reg: "public Dashboard", query: []kv{{"to", "ru"}, {"next", "/b/materials?ref={A}"}}},
	{name: "tokens-page", method: "GET", path: "/partner/tokens", reg: "public Dashboard", auth: "sessionA"},
	{name: "tokens-create", method: "POST", path: "/partner/tokens", reg: "public Dashboard", auth: "sessionA",
		headers: []kv{{"Origin", "{public}"}, {"Referer", "{public}/partner/tokens"}}},
	{name: "tokens-revoke", method: "POST", path: "/partner/tokens/revoke", reg: "public Dashboard", auth: "sessionA",
		body: "id=0123456789abcdef01234567", bodyFuzz: true, ctype: "application/x-www-form-urlencoded",
		headers: []kv{{"Origin", "{public}"}, {"Referer", "{public}/partner/tokens"}}},

	// Admin listener (internal/admin and every package's RegisterAdmin).
	{admin: true, name: "healthz", method: "GET", path: "/healthz", reg: "admin GET /healthz"},
	{admin: true, name: "readyz", method: "GET", path: "/readyz", reg: "admin GET /readyz", query: []kv{{"strict", "1"}}},
	{admin: true, name: "metrics", method: "GET", path: "/metrics", reg: "admin GET /metrics", headers: []kv{{"Accept", "application/openmetrics-text"}, {"Accept-Encoding", "gzip"}}},
	{admin: true, name: "pprof-index", heavy: true, method: "GET", path: "/debug/pprof/{profile}", reg: "admin /debug/pprof/", query: []kv{{"debug", "1"}, {"gc", "0"}}}, // {profile} is threadcreate: the cheapest
	{admin: true, name: "pprof-delta", method: "GET", path: "/debug/pprof/allocs", reg: "admin /debug/pprof/", query: []kv{{"seconds", "1"}},
		timeout: 1500 * time.Millisecond, slowOK: true},
	{admin: true, name: "pprof-cmdline", method: "GET", path: "/debug/pprof/cmdline", reg: "admin /debug/pprof/cmdline"},
	{admin: true, name: "pprof-profile", method: "GET", path: "/debug/pprof/profile", reg: "admin /debug/pprof/profile", query: []kv{{"seconds", "1"}},
		timeout: 1500 * time.Millisecond, slowOK: true},
	{admin: true, name: "pprof-symbol", method: "POST", path: "/debug/pprof/symbol", reg: "admin /debug/pprof/symbol", body: "0x401000+0x402000", bodyFuzz: true},
	{admin: true, name: "pprof-trace", method: "GET", path: "/debug/pprof/trace", reg: "admin /debug/pprof/trace", query: []kv{{"seconds", "0.2"}},
		timeout: 1500 * time.Millisecond, slowOK: true},
	{admin: true, name: "admin-sign-in-page", method: "GET", path: "/admin/sign-in", reg: "admin GET /admin/sign-in", query: []kv{{"next", "/admin/review"}}},
	{admin: true, name: "admin-sign-in", method: "POST", path: "/admin/sign-in", reg: "admin POST /admin/sign-in", ctype: "application/x-www-form-urlencoded",
		body: "secret={vsecret}&next=%2Fadmin%2Freview", bodyFuzz: true},
	{admin: true, name: "admin-sign-out", method: "POST", path: "/admin/sign-out", reg: "admin POST /admin/sign-out"},
	{admin: true, name: "admin-whoami", method: "GET", path: "/admin/v1/whoami", reg: "admin GET /admin/v1/whoami"},
	{admin: true, name: "admin-partner-put", method: "PUT", path: "/admin/v1/partners/{pput}", reg: "admin PUT /admin/v1/partners/{id}", ctype: "application/json",
		json: []kv{{"status", `"active"`}, {"user_id", `"u1"`}, {"email_confirmed", "true"}}, bodyFuzz: true},
	{admin: true, name: "admin-partner-get", method: "GET", path: "/admin/v1/partners/{A}", reg: "admin GET /admin/v1/partners/{id}"},
	{admin: true, name: "admin-token-issue", method: "POST", path: "/admin/v1/partners/{pput}/tokens", reg: "admin POST /admin/v1/partners/{id}/tokens"},
	{admin: true, name: "admin-token-list", method: "GET", path: "/admin/v1/partners/{A}/tokens", reg: "admin GET /admin/v1/partners/{id}/tokens"},
	{admin: true, name: "admin-token-revoke", method: "DELETE", path: "/admin/v1/tokens/{tokrev}", reg: "admin DELETE /admin/v1/tokens/{token_id}"},
	{admin: true, name: "admin-login-link", method: "POST", path: "/admin/v1/partners/{pput}/login-links", reg: "admin POST /admin/v1/partners/{id}/login-links"},
	{admin: true, name: "admin-kwork-put", method: "PUT", path: "/admin/v1/kworks/{kwput}", reg: "admin PUT /admin/v1/kworks/{id}", ctype: "application/json",
		json: []kv{{"title", `"Logo design"`}, {"category", `"hx-design"`}, {"price", "150000"}, {"currency", `"RUB"`},
			{"url", `"` + hostileOrigin + `/kwork/1"`}, {"image", `""`}, {"image_url", `"https://cdn.example/i.jpg"`}, {"seller_id", `"s1"`}, {"rating", "4.5"}, {"status", `"active"`}},
		bodyFuzz: true},
	{admin: true, name: "admin-kwork-get", method: "GET", path: "/admin/v1/kworks/{kw}", reg: "admin GET /admin/v1/kworks/{id}"},
	{admin: true, name: "admin-kwork-image", method: "PUT", path: "/admin/v1/kworks/{kw}/image", reg: "admin PUT /admin/v1/kworks/{id}/image",
		body: pngBody, ctype: "image/png", bodyFuzz: true},
	{admin: true, name: "admin-creatives", method: "GET", path: "/admin/v1/creatives", reg: "admin GET /admin/v1/creatives"},
	{admin: true, name: "admin-creative-put", heavy: true, method: "PUT", path: "/admin/v1/creatives/{crput}", reg: "admin PUT /admin/v1/creatives/{id}",
		query: []kv{{"fx", "0.5"}, {"fy", "0.5"}, {"safe", "0.1,0.1,0.9,0.9"}, {"bg", "#ffffff"}, {"alt", "Hostile banner"}},
		body:  pngBody, ctype: "image/png", bodyFuzz: true},
	{admin: true, name: "admin-creative-master", heavy: true, method: "PUT", path: "/admin/v1/creatives/{crput}/masters/{master}", reg: "admin PUT /admin/v1/creatives/{id}/masters/{name}",
		body: pngBody, ctype: "image/png"},
	{admin: true, name: "admin-creative-delete", method: "DELETE", path: "/admin/v1/creatives/{crdel}", reg: "admin DELETE /admin/v1/creatives/{id}"},
	{admin: true, name: "admin-classify", method: "POST", path: "/admin/v1/classify", reg: "admin POST /admin/v1/classify", ctype: "application/json",
		json: []kv{{"url", `"https://market.example/x?ref={A}"`}, {"method", `"GET"`}, {"headers", `{"User-Agent":"Mozilla/5.0","Accept":"text/html"}`},
			{"ip", `"203.0.113.9"`}, {"tls", "true"}, {"duplicate", "false"}, {"rate_limited", "false"}},
		bodyFuzz: true},
	{admin: true, name: "ledger-order-decisions", method: "GET", path: "/admin/v1/orders/{A}/decisions", reg: "admin GET /admin/v1/orders/{id}/decisions"},
	{admin: true, name: "ledger-referral", method: "GET", path: "/admin/v1/referrals/{A}", reg: "admin GET /admin/v1/referrals/{id}"},
	{admin: true, name: "review-api", heavy: true, lane: "review", method: "GET", path: "/admin/v1/review", reg: "admin GET /admin/v1/review",
		query: []kv{{"from", "2026-01-01"}, {"to", "2026-01-08"}, {"limit", "10"}, {"format", "json"}, {"range", ""}}, headers: []kv{{"Accept", "text/csv"}}},
	{admin: true, name: "review-api-partner", heavy: true, lane: "review", method: "GET", path: "/admin/v1/review/{A}", reg: "admin GET /admin/v1/review/{partner}",
		query: []kv{{"range", "7d"}, {"limit", "5"}}},
	{admin: true, name: "review-page", heavy: true, lane: "review", method: "GET", path: "/admin/review", reg: "admin GET /admin/review",
		query: []kv{{"range", "24h"}, {"to", "2026-01-08"}, {"limit", "10"}}},
	{admin: true, name: "review-page-partner", heavy: true, lane: "review", method: "GET", path: "/admin/review/{A}", reg: "admin GET /admin/review/{partner}",
		query: []kv{{"range", "7d"}, {"limit", "5"}}},
	{admin: true, name: "console-start", method: "GET", path: "/admin/", reg: "admin GET /admin/{$}"},
	{admin: true, name: "console-lookup", method: "GET", path: "/admin/lookup", reg: "admin GET /admin/lookup", query: []kv{{"order", "{A}"}}},
	{admin: true, name: "console-order", method: "GET", path: "/admin/orders/{A}", reg: "admin GET /admin/orders/{id}", query: []kv{{"format", "csv"}}},
	{admin: true, name: "console-referral", method: "GET", path: "/admin/referrals/{A}", reg: "admin GET /admin/referrals/{id}", query: []kv{{"format", "csv"}}},
	{admin: true, name: "console-audit", method: "GET", path: "/admin/audit/{A}", reg: "admin GET /admin/audit/{partner}", query: []kv{{"format", "csv"}}},
	{admin: true, name: "review-static", method: "GET", path: "/admin/review/static/{rasset}", reg: "admin GET /admin/review/static/{name}",
		headers: []kv{{"If-None-Match", `"x"`}}},
}

// commonHeaders are fuzzed on every route with a smaller payload set: what any client
// can send anywhere.
var commonHeaders = []string{"Host", "User-Agent", "Content-Type", "Cookie", "Authorization", "Origin", "Referer", "X-Forwarded-For"}

// hostileTimeout bounds one exchange: ClickHouse-backed routes answer within their 5 s
// query timeout.
const hostileTimeout = 15 * time.Second
