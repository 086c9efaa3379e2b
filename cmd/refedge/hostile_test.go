package main

// The hostile-input suite: against the real binary, every
// route of both listeners gets SQL, markup, bad UTF-8, header-injection, encoding-trick,
// traversal, homoglyph, numeric and malformed-JSON payloads in each of its parameters,
// and both listeners get malformed HTTP over raw TCP. No response may be a 5xx, no
// payload may come back as live HTML, no redirect may leave the marketplace origin, no
// payload may add a response header, one partner's credentials never read another's
// data, and the process must neither panic nor die.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
)

// hostileWorkers is how many exchanges run at once: enough to finish in seconds, few
// enough that the analytics routes (8 concurrent queries by default) never answer 429
// for being crowded by the suite itself and CI's two cores keep up.
const hostileWorkers = 6

// hostileLanes is the concurrency of each lane of routes (hroute.lane).
var hostileLanes = map[string]int{
	"":       hostileWorkers,
	"review": 2, // the review's own bound (attribution.ReviewConfig.MaxConcurrent)
}

func TestHostileInput(t *testing.T) {
	t0 := time.Now()
	s := startStack(t)
	fx := newHostileFixture(t, s)
	t.Logf("stack and fixture ready in %s", time.Since(t0).Round(time.Millisecond))

	// Slow clients and malformed HTTP run beside the sweep: they mostly wait.
	var beside sync.WaitGroup
	t.Cleanup(beside.Wait) // before the stack's cleanup stops refedge, and before t ends
	beside.Add(2)
	go func() {
		defer beside.Done()
		hostileSlowloris(t, fx)
	}()
	go func() {
		defer beside.Done()
		hostileMalformedHTTP(t, fx)
	}()

	start := time.Now()
	calls := fx.sweepCalls()
	st := runHostile(t, fx, calls)
	t.Logf("sweep: %d requests over %d routes (%d payloads, %d JSON tokens, %d bodies) in %s; %s",
		len(calls), len(hostileRoutes), len(hostilePayloads), len(jsonTokens), len(bodyPayloads), time.Since(start).Round(time.Millisecond), st)

	fx.requireAlive(t)
	hostileStored(t, fx)
	hostileCrossPartner(t, fx)
	beside.Wait()

	// The process never panicked, is alive, and answers.
	fx.requireAlive(t)
	for _, hc := range []struct{ addr, path string }{{fx.admin, "/healthz"}, {fx.public, "/v.js"}} {
		res := rawExchange(hc.addr, []byte("GET "+hc.path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "GET", 5*time.Second)
		if len(res.resps) != 1 || res.resps[0].StatusCode != 200 {
			t.Fatalf("%s after the suite: %d responses, %v", hc.path, len(res.resps), res.err)
		}
	}
}

// credentialLetThrough reports a call to an admin route whose operator credential the
// sweep replaced with a payload that was answered as if a credential had been given:
// nothing reaches an admin handler, let alone changes state, without a credential.
func credentialLetThrough(c *hcall, code int) string {
	if !c.route.admin || c.mut.where != "header" || c.mut.name != "Authorization" {
		return ""
	}
	if role, _ := admin.RoleOf(strings.TrimPrefix(c.route.reg, "admin ")); role == admin.RoleOpen {
		return ""
	}
	switch code {
	case 400, 401, 429, 431: // refused, or a header net/http cannot parse
		return ""
	}
	return fmt.Sprintf("answered %d with a payload in place of the operator credential, want 401", code)
}

// requireAlive fails the test, with the panic lines of refedge's log, when refedge
// logged a panic or is gone.
func (fx *hfixture) requireAlive(t *testing.T) {
	t.Helper()
	logs := fx.logs()
	if !strings.Contains(strings.ToLower(logs), "panic") && !fx.dead.Load() && fx.alive() {
		return
	}
	var lines []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(strings.ToLower(l), "panic") || strings.HasPrefix(l, "goroutine ") {
			lines = append(lines, clip([]byte(l), 2000))
		}
	}
	t.Fatalf("refedge panicked or died during the hostile suite (alive now: %v); panic lines of its log:\n%s",
		fx.alive(), strings.Join(lines[:min(len(lines), 20)], "\n"))
}

// hostileStats counts what the sweep saw.
type hostileStats struct {
	sent, closedNoReply, timeouts atomic.Int64
	mu                            sync.Mutex
	byStatus                      map[int]int
	byRoute                       map[string]time.Duration // time spent in exchanges
}

func (st *hostileStats) String() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	codes := make([]int, 0, len(st.byStatus))
	for c := range st.byStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "%d×%d ", c, st.byStatus[c])
	}
	routes := make([]string, 0, len(st.byRoute))
	for r := range st.byRoute {
		routes = append(routes, r)
	}
	sort.Slice(routes, func(i, j int) bool { return st.byRoute[routes[i]] > st.byRoute[routes[j]] })
	b.WriteString("; slowest routes (exchange time summed):")
	for _, r := range routes[:min(len(routes), 6)] {
		fmt.Fprintf(&b, " %s %s", r, st.byRoute[r].Round(time.Millisecond))
	}
	return fmt.Sprintf("statuses %s; closed without a reply %d; slow-route timeouts %d", b.String(), st.closedNoReply.Load(), st.timeouts.Load())
}

// runHostile sends calls with hostileWorkers at once and reports every rule a response
// breaks, naming the request.
func runHostile(t *testing.T, fx *hfixture, calls []hcall) *hostileStats {
	t.Helper()
	st := &hostileStats{byStatus: map[int]int{}, byRoute: map[string]time.Duration{}}
	var (
		failMu sync.Mutex
		groups = map[string]*failGroup{} // by route, parameter and kind of failure
		nfail  int
		wg     sync.WaitGroup
	)
	fail := func(c *hcall, msg string) {
		key := fmt.Sprintf("route=%s param=%s: %s", c.route.name, c.mut, failKind(msg))
		failMu.Lock()
		defer failMu.Unlock()
		nfail++
		g := groups[key]
		if g == nil {
			g = &failGroup{example: c.String() + ": " + msg}
			groups[key] = g
		}
		g.payloads = append(g.payloads, c.mut.p.name)
	}
	lanes := map[string][]*hcall{}
	for i := range calls {
		lanes[calls[i].route.lane] = append(lanes[calls[i].route.lane], &calls[i])
	}
	for lane, lcalls := range lanes {
		var next atomic.Int64
		for w := 0; w < hostileLanes[lane]; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(lcalls) || fx.dead.Load() {
						return
					}
					c := lcalls[i]
					st.sent.Add(1)
					t0 := time.Now()
					res := rawExchange(c.addr, c.raw, c.method, c.timeout)
					st.mu.Lock()
					st.byRoute[c.route.name] += time.Since(t0)
					st.mu.Unlock()
					if fx.gone(res.err) {
						return
					}
					if res.err != nil {
						if c.route.slowOK && isTimeout(res.err) {
							st.timeouts.Add(1)
						} else {
							fail(c, fmt.Sprintf("exchange failed: %v (trailing %q)", res.err, clip(res.trail, 200)))
						}
					}
					if len(res.resps) == 0 && res.err == nil {
						st.closedNoReply.Add(1)
					}
					for _, r := range res.resps {
						st.mu.Lock()
						st.byStatus[r.StatusCode]++
						st.mu.Unlock()
						for _, bad := range checkResponse(r) {
							fail(c, bad)
						}
						if bad := credentialLetThrough(c, r.StatusCode); bad != "" {
							fail(c, bad)
						}
					}
					if len(res.resps) > 1 || len(res.trail) > 0 && res.err == nil {
						fail(c, fmt.Sprintf("%d responses to one request (trailing %q)", len(res.resps), clip(res.trail, 200)))
					}
				}
			}()
		}
	}
	wg.Wait()
	if nfail > 0 {
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			g := groups[k]
			fmt.Fprintf(&b, "%s ×%d (payloads %s)\n    e.g. %s\n", k, len(g.payloads), strings.Join(g.payloads[:min(len(g.payloads), 8)], ","), clip([]byte(g.example), 600))
		}
		t.Errorf("%d of %d hostile requests broke a rule, in %d groups:\n%s", nfail, len(calls), len(groups), b.String())
	}
	return st
}

// failGroup is the failures of one route parameter of one kind.
type failGroup struct {
	payloads []string
	example  string
}

// failKind is the part of a failure message that names its kind: the status, or the
// rule broken.
func failKind(msg string) string {
	switch {
	case strings.HasPrefix(msg, "status "):
		return msg[:len("status 500")]
	case strings.HasPrefix(msg, "redirect "):
		return "redirect off the origin"
	}
	if i := strings.IndexAny(msg, ":("); i > 0 {
		return msg[:i]
	}
	return msg
}

func isTimeout(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "timeout") || strings.Contains(err.Error(), "deadline exceeded"))
}

// newHostileFixture creates what makes baseline requests valid: two partners with API
// tokens and dashboard sessions, a kwork (whose title is itself a payload: stored input
// must come out escaped too), widgets, a click's cookies and a widget view token.
func newHostileFixture(t *testing.T, s *stack) *hfixture {
	t.Helper()
	fx := &hfixture{public: strings.TrimPrefix(s.http, "http://"), admin: strings.TrimPrefix(s.admin, "http://"), vals: map[string]string{},
		alive: s.p.Running, logs: s.log}
	n := rand.IntN(1 << 30)
	v := fx.vals
	v["A"], v["B"], v["pput"] = fmt.Sprintf("hx-alpha-%d", n), fmt.Sprintf("hx-beta-%d", n), fmt.Sprintf("hx-put-%d", n)
	v["public"] = "http://localhost:8080" // REFEDGE_PUBLIC_URL's default in startStack
	v["clickpath"], v["apiname"], v["profile"] = "categories/design", "nope", "threadcreate"
	v["dasset"], v["lasset"], v["rasset"], v["uasset"] = "dashboard.js", "links.js", "review.css", "partner.css"
	v["cr"], v["bsize"], v["tsize"], v["master"] = "services", "468x60.jpg", "96x72.jpg", "wide"
	v["crput"], v["crdel"] = "hx-cr", "hx-crdel"
	v["kw"], v["kwput"] = "hxk1", "hxk2"
	v["vid"] = "AAAAAAAAAAAAAAAAAAAAAA"
	v["png"] = string(testPNG(t, 240, 160))
	v["vsecret"] = admintest.ViewerSecret

	for _, p := range []string{v["A"], v["B"], v["pput"]} {
		s.putPartner(p, "active")
	}
	tok := func(p string) map[string]any {
		return fx.adminJSON(t, "POST", "/admin/v1/partners/"+p+"/tokens", "", 201)
	}
	v["tokA"], v["tokB"] = tok(v["A"])["token"].(string), tok(v["B"])["token"].(string)
	rev := tok(v["A"])
	v["tokrev"], v["tokrevToken"] = rev["id"].(string), rev["token"].(string)
	login := func(p string) (string, string) {
		link := fx.adminJSON(t, "POST", "/admin/v1/partners/"+p+"/login-links", "", 201)["url"].(string)
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		resp := fx.do(t, "GET", "/partner/login?"+u.RawQuery, "", nil)
		for _, c := range resp.Cookies() {
			if c.Name == "rfe_ps" {
				return u.Query().Get("t"), c.Value
			}
		}
		t.Fatalf("login link for %s set no session: %d %v", p, resp.StatusCode, resp.Header)
		return "", ""
	}
	v["login"], v["sessA"] = login(v["A"])
	_, v["sessB"] = login(v["B"])

	// Stored payloads: a kwork title and a widget name. Every page that shows them must
	// escape them; hostileStored checks after the sweep.
	kwork := `{"title":` + jsonString(`Logo <script>hx7331()</script> "><img src=x onerror=hx7331()>`) +
		`,"category":"hx-stored","price":150000,"currency":"RUB","url":"` + hostileOrigin + `/kwork/1","seller_id":"s1","rating":4.5}`
	fx.adminJSON(t, "PUT", "/admin/v1/kworks/"+v["kw"], kwork, 200)
	fx.adminJSON(t, "PUT", "/admin/v1/kworks/hxk0", `{"title":"Landing page","category":"hx-design","price":90000,"currency":"RUB","url":"`+hostileOrigin+`/kwork/2"}`, 200)
	fx.adminJSON(t, "PUT", "/admin/v1/kworks/"+v["kw"]+"/image", v["png"], 200)
	fx.adminJSON(t, "PUT", "/admin/v1/creatives/"+v["crdel"], v["png"], 0)
	widget := func(tok, name string) string {
		body := `{"name":` + jsonString(name) + `,"category":"hx-design","size":"300x250","cards":3}`
		resp := fx.do(t, "POST", "/api/v1/widgets", body, map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
		var w struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&w); err != nil || resp.StatusCode != 201 {
			t.Fatalf("create widget: %d %v", resp.StatusCode, err)
		}
		return w.ID
	}
	v["wid"] = widget(v["tokA"], `"><img src=x onerror=hx7331()>`)
	v["wdel"] = widget(v["tokA"], "to delete")
	v["wapi"] = widget(v["tokA"], "API routes'") // they may delete it (method sweep)
	v["wvictim"] = widget(v["tokA"], "victim")   // for hostileCrossPartner only
	v["widB"] = widget(v["tokB"], "B's")
	v["wjs"] = v["wid"] + ".js"

	// A valid click gives real rfe_ref and rfe_chk values; the frame gives a view token.
	resp, ref, err := s.click("/categories/design?ref="+v["A"], "X-Forwarded-For", "198.51.100.1")
	if err != nil || resp.StatusCode != 302 || ref == "" {
		t.Fatalf("fixture click: %v %v %q", err, resp, ref)
	}
	v["ref"] = ref
	for _, c := range resp.Cookies() {
		if c.Name == "rfe_chk" {
			v["chk"] = c.Value
		}
	}
	frame := fx.do(t, "GET", "/w/"+v["wid"], "", nil)
	var fb bytes.Buffer
	_, _ = fb.ReadFrom(frame.Body)
	m := regexp.MustCompile(`data-s="([^"]+)"`).FindSubmatch(fb.Bytes())
	if m == nil {
		t.Fatalf("widget frame %d carries no view token:\n%s", frame.StatusCode, clip(fb.Bytes(), 2000))
	}
	v["view"] = string(m[1])

	// Every route's baseline names only fixture values that exist.
	for i := range hostileRoutes {
		r := &hostileRoutes[i]
		texts := []string{r.path, r.body}
		for _, l := range [][]kv{r.query, r.headers, r.cookies, r.json} {
			for _, e := range l {
				texts = append(texts, e.v)
			}
		}
		for _, txt := range texts {
			for _, m := range regexp.MustCompile(`\{([a-zA-Z]+)\}`).FindAllStringSubmatch(txt, -1) {
				if _, ok := v[m[1]]; !ok {
					t.Fatalf("route %s names {%s}, which the fixture lacks", r.name, m[1])
				}
			}
		}
	}
	return fx
}

// do sends one well-formed request to the public listener with Go's client.
func (fx *hfixture) do(t *testing.T, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	return fx.send(t, "http://"+fx.public, method, path, body, hdr)
}

func (fx *hfixture) send(t *testing.T, base, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	resp := sendNoRedirect(t, method, base+path, body, hdr)
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// sendNoRedirect sends one request with the given headers, not following redirects;
// the caller closes the body.
func sendNoRedirect(t *testing.T, method, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

// adminJSON sends a request to the admin listener and decodes its JSON answer; want 0
// accepts any 2xx.
func (fx *hfixture) adminJSON(t *testing.T, method, path, body string, want int) map[string]any {
	t.Helper()
	resp := fx.send(t, "http://"+fx.admin, method, path, body, map[string]string{"Authorization": admintest.Bearer(admintest.AdminSecret)})
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != want && (want != 0 || resp.StatusCode/100 != 2) {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

// testPNG returns a w×h PNG.
func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
