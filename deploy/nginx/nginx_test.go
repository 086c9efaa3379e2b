package nginx

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/clustertest"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/testenv"
)

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

func TestTemplatePlaceholders(t *testing.T) {
	got := strings.Join(Placeholders(Template), ",")
	if got != "REFEDGE_UPSTREAMS,MARKET_UPSTREAM,LISTEN,SERVER_NAME" {
		t.Errorf("placeholders %s; the compose file and the test must provide each", got)
	}
	if _, err := Render(Template, map[string]string{"LISTEN": "80"}); err == nil || !strings.Contains(err.Error(), "REFEDGE_UPSTREAMS") {
		t.Errorf("render with missing values: %v", err)
	}
}

func lookTool(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/bin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	testenv.Required(t, name, "run `deploy/dev/services.sh install --tools --deploy`")
	return ""
}

// edge is one refedge serve process.
type edge struct {
	p           *testenv.Proc
	http, admin string
}

// TestNginxRoutesToTwoEdges is the production layout on this machine: Debian's nginx with
// the template, in front of two refedge processes and the stand-in marketplace; both
// edges share the Redis Cluster, the two-shard ClickHouse cluster (through Distributed
// tables) and one Kafka broker. It checks the routing, then drives one wrk run through
// nginx and checks that both edges took part and that every click is in ClickHouse and
// on Kafka exactly once.
func TestNginxRoutesToTwoEdges(t *testing.T) {
	nginxBin, wrkBin := lookTool(t, "nginx"), lookTool(t, "wrk")
	seeds := clustertest.RedisCluster(t)
	chc := clustertest.ClickHouseCluster(t)
	bin := clustertest.Binary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	brokers := strings.Join(broker.Addrs(), ",")
	db := "test_ng_" + randomID()
	chc.DropOnCleanup(t, db)
	dir := t.TempDir()
	front := testenv.FreeAddr(t)
	base := []string{
		"REFEDGE_MARKET_ORIGIN=http://" + front, "REFEDGE_PUBLIC_URL=http://" + front,
		"REFEDGE_SECRET=nginx-test-secret-0123456789", "REFEDGE_REDIS_URL=" + seeds,
		"REFEDGE_KAFKA_BROKERS=" + brokers, "REFEDGE_LOG_FORMAT=json",
		"REFEDGE_ADMIN_TOKENS=" + admintest.EnvValue,
	}
	// The one-shot jobs of a deployment: topics, then the cluster schema.
	run := func(env []string, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("refedge %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(base, "kafka-topics", "--replication-factor", "1")
	run(append(base, "REFEDGE_CLICKHOUSE_DSN="+chc.DSN(0, db)), "migrate", "--cluster", chc.Name)

	market := testenv.FreeAddr(t)
	testenv.StartProc(t, testenv.ProcConfig{Name: "dev-market", Path: bin, Args: []string{"dev-market"},
		Env: []string{"REFEDGE_DEV_MARKET_ADDR=" + market}, Ready: testenv.HTTPReady("http://" + market + "/"),
		StartTimeout: 10 * time.Second})
	var edges [2]edge
	for i := range edges {
		e := edge{http: testenv.FreeAddr(t), admin: testenv.FreeAddr(t)}
		// Each edge talks to its own ClickHouse server; both write through the Distributed
		// tables, synchronously (insert_distributed_sync, as docs/operations.md advises).
		env := append(append([]string{}, base...),
			"REFEDGE_HTTP_ADDR="+e.http, "REFEDGE_ADMIN_ADDR="+e.admin,
			"REFEDGE_CLICKHOUSE_DSN="+chc.DSN(i, db)+"?insert_distributed_sync=1",
			"REFEDGE_SPOOL_DIR="+filepath.Join(dir, fmt.Sprintf("spool%d", i)))
		e.p = testenv.StartProc(t, testenv.ProcConfig{Name: fmt.Sprintf("refedge-%d", i+1), Path: bin, Args: []string{"serve"},
			Env: env, Ready: testenv.HTTPReady("http://" + e.admin + "/readyz"), StartTimeout: time.Minute})
		edges[i] = e
	}
	partner := "ngx-" + randomID()
	putPartner(t, edges[0].admin, partner)

	conf, err := Render(Template, map[string]string{
		"REFEDGE_UPSTREAMS": fmt.Sprintf("server %s max_fails=3 fail_timeout=10s;\n    server %s max_fails=3 fail_timeout=10s;", edges[0].http, edges[1].http),
		"MARKET_UPSTREAM":   "server " + market + ";",
		"LISTEN":            front,
		"SERVER_NAME":       "market.example",
	})
	if err != nil {
		t.Fatal(err)
	}
	startNginx(t, nginxBin, dir, conf, "http://"+front+"/healthz-of-the-stub")

	checkRouting(t, front, dir, partner, edges, market)
	loadThroughNginx(t, ctx, wrkBin, front, dir, partner, edges, broker.Addrs(), chc, db)
}

func randomID() string { return strconv.FormatInt(time.Now().UnixNano()%1e12, 36) }

func putPartner(t *testing.T, admin, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+admin+"/admin/v1/partners/"+id, strings.NewReader(`{"status":"active"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(admintest.AsAdmin(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT partner %s: %s %s", id, resp.Status, body)
	}
}

// startNginx runs nginx in the foreground with a private prefix: the template's server
// block inside a minimal main config whose access log names each request's upstream. It
// returns once readyURL answers 200 through nginx.
func startNginx(t *testing.T, bin, dir, conf, readyURL string) {
	t.Helper()
	nd := filepath.Join(dir, "nginx")
	for _, d := range []string{"", "tmp"} {
		if err := os.MkdirAll(filepath.Join(nd, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(nd, "refedge.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root root; # the test's private prefix is not readable by nobody\n"
	}
	main := user + `worker_processes 1;
pid ` + nd + `/nginx.pid;
error_log ` + nd + `/error.log warn;
events { worker_connections 2048; }
http {
    log_format rfe '$http_x_test_id $status $upstream_addr "$request_uri"';
    access_log ` + nd + `/access.log rfe;
    client_body_temp_path ` + nd + `/tmp/body;
    proxy_temp_path ` + nd + `/tmp/proxy;
    fastcgi_temp_path ` + nd + `/tmp/fastcgi;
    uwsgi_temp_path ` + nd + `/tmp/uwsgi;
    scgi_temp_path ` + nd + `/tmp/scgi;
    include ` + nd + `/refedge.conf;
}
`
	if err := os.WriteFile(filepath.Join(nd, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-t", "-p", nd, "-c", nd+"/nginx.conf").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	testenv.StartProc(t, testenv.ProcConfig{Name: "nginx", Path: bin, Args: []string{"-p", nd, "-c", nd + "/nginx.conf", "-g", "daemon off;"},
		Ready: testenv.HTTPReady(readyURL), StartTimeout: 10 * time.Second})
}

// accessLog returns nginx's access log lines.
func accessLog(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "nginx", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// checkRouting sends one request per rule and reads from nginx's log which upstream
// answered it.
func checkRouting(t *testing.T, front, dir, partner string, edges [2]edge, market string) {
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	isEdge := func(addr string) bool { return addr == edges[0].http || addr == edges[1].http }
	f := func(path string, browser, wantEdge bool, wantStatus int) *http.Response {
		t.Helper()
		id := "r" + randomID()
		req, _ := http.NewRequest(http.MethodGet, "http://"+front+path, nil)
		req.Header.Set("X-Test-ID", id)
		if browser {
			req.Header.Set("User-Agent", browserUA)
			req.Header.Set("Accept", "text/html,application/xhtml+xml")
			req.Header.Set("Accept-Language", "en")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// nginx logs a request after its response is sent: poll briefly for the line.
		upstream := ""
		for deadline := time.Now().Add(5 * time.Second); upstream == "" && time.Now().Before(deadline); {
			for _, l := range accessLog(t, dir) {
				if f := strings.Fields(l); len(f) >= 3 && f[0] == id {
					upstream = f[2]
				}
			}
			if upstream == "" {
				time.Sleep(10 * time.Millisecond) // polling the log file, with a deadline
			}
		}
		switch {
		case wantEdge && !isEdge(upstream):
			t.Errorf("GET %s went to %q, want a refedge replica", path, upstream)
		case !wantEdge && upstream != market:
			t.Errorf("GET %s went to %q, want the marketplace %s", path, upstream, market)
		}
		if wantStatus != 0 && resp.StatusCode != wantStatus {
			t.Errorf("GET %s: %s, want %d", path, resp.Status, wantStatus)
		}
		return resp
	}
	resp := f("/categories/design?ref="+partner+"&src=link&utm_source=blog", true, true, http.StatusFound)
	loc := resp.Header.Get("Location")
	if loc != "http://"+front+"/categories/design?utm_source=blog" {
		t.Errorf("click redirect to %q, want the same path on the front host without ref and src", loc)
	}
	cookies := map[string]bool{}
	for _, c := range resp.Cookies() {
		cookies[c.Name] = true
	}
	if !cookies["rfe_vid"] || !cookies["rfe_ref"] {
		t.Errorf("click cookies %v, want rfe_vid and rfe_ref", cookies)
	}
	f(strings.TrimPrefix(loc, "http://"+front), true, false, http.StatusOK) // the redirect lands on the origin: no loop
	f("/categories/design?ref=", false, true, 0)                            // an empty ref is still refedge's
	f("/?xref=1&href=2", false, false, http.StatusOK)
	f("/w/builder", true, true, 0)
	f("/b/materials", true, true, 0)
	f("/v.js", true, true, http.StatusOK)
	f("/api/v1/stats", false, true, 0)
	f("/partner", true, true, 0)
	f("/partnership-terms", true, false, http.StatusOK)
	f("/vip", true, false, http.StatusOK)
}

var (
	wrkRequestsRE = regexp.MustCompile(`(\d+) requests in ([\d.]+)(ms|s|m)`)
	wrkRateRE     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkNon2xxRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocketRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// loadThroughNginx runs wrk against a click URL on nginx and reconciles what each layer
// saw: nginx's log, each edge's refedge_clicks_total, ClickHouse and Kafka.
func loadThroughNginx(t *testing.T, ctx context.Context, wrkBin, front, dir, partner string, edges [2]edge,
	brokers []string, chc clustertest.CHCluster, db string) {
	before := [2]float64{clicksTotal(t, edges[0].admin), clicksTotal(t, edges[1].admin)}
	cpuBefore := [2]float64{metric(t, edges[0].admin, "process_cpu_seconds_total"), metric(t, edges[1].admin, "process_cpu_seconds_total")}
	url := "http://" + front + "/categories/design?ref=" + partner + "&src=link&sub=wrk"
	script := filepath.Join(dir, "clicks.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, wrkBin, "-t2", "-c32", "-d3s", "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	m := wrkRequestsRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("cannot read wrk's output:\n%s", out)
	}
	wrkRequests, _ := strconv.Atoi(string(m[1]))
	rate := wrkRateRE.FindSubmatch(out)
	if n := wrkNon2xxRE.FindSubmatch(out); n != nil {
		t.Errorf("wrk: %s non-2xx/3xx responses\n%s", n[1], out)
	}
	if s := wrkSocketRE.FindSubmatch(out); s != nil && (string(s[1]) != "0" || string(s[2]) != "0" || string(s[3]) != "0") {
		t.Errorf("wrk socket errors: %s", s[0])
	}

	// nginx saw every request wrk sent, including those wrk stopped waiting for at the end
	// of its run (499: the client closed, the edge still had the request): its log counts
	// the clicks. nginx logs a request when it ends and an edge counts it when its handler
	// runs, so both are read until they agree and hold still.
	var (
		perEdge        map[string]int
		logged, closed int
		served         [2]int
		prev           = -1
	)
	for deadline := time.Now().Add(15 * time.Second); ; {
		perEdge, logged, closed = map[string]int{}, 0, 0
		for _, l := range accessLog(t, dir) {
			f := strings.Fields(l)
			if len(f) < 4 || !strings.Contains(f[3], "sub=wrk") {
				continue
			}
			logged++
			if f[1] == "499" {
				closed++
			}
			perEdge[f[2]]++
		}
		for i, e := range edges {
			served[i] = int(clicksTotal(t, e.admin) - before[i])
		}
		if (served[0]+served[1] == logged && logged == prev) || time.Now().After(deadline) {
			break
		}
		prev = logged
		time.Sleep(100 * time.Millisecond) // polling nginx's log and the edges' counters, with a deadline
	}
	for _, l := range accessLog(t, dir) {
		if f := strings.Fields(l); len(f) >= 4 && strings.Contains(f[3], "sub=wrk") && f[1] != "302" && f[1] != "499" {
			t.Errorf("nginx logged %s for a wrk click (upstream %s)", f[1], f[2])
		}
	}
	if closed > 32 {
		t.Errorf("%d clicks abandoned by wrk, more than its 32 connections had in flight", closed)
	}
	cpu := metric(t, edges[0].admin, "process_cpu_seconds_total") - cpuBefore[0] +
		metric(t, edges[1].admin, "process_cpu_seconds_total") - cpuBefore[1]
	for i, e := range edges {
		if served[i] != perEdge[e.http] {
			t.Errorf("edge %d counted %d clicks, nginx sent it %d", i+1, served[i], perEdge[e.http])
		}
		if served[i] < logged/10 {
			t.Errorf("edge %d served %d of %d clicks: the load was not shared", i+1, served[i], logged)
		}
	}
	if logged < wrkRequests || logged > wrkRequests+32 {
		t.Errorf("nginx logged %d clicks, wrk counted %d (at most its 32 connections' last requests may be missing)", logged, wrkRequests)
	}

	// Stop both edges: they flush their pipelines, then every click must be stored.
	for i, e := range edges {
		if err := e.p.Stop(syscall.SIGTERM); err != nil {
			t.Errorf("refedge-%d exited with %v after SIGTERM", i+1, err)
		}
	}
	// With no edge left, a click fails open: the visitor lands on the marketplace.
	resp, err := http.Get("http://" + front + "/categories/design?ref=" + partner)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Marketplace (development stub)") {
		t.Errorf("click with every edge down: %s, want the marketplace's page", resp.Status)
	}

	rows, distinct, verdicts, bytesPerRow := clickHouseClicks(t, ctx, chc, db, partner)
	if verdicts["valid"] < logged/2 {
		t.Errorf("verdicts %v: wrk's clicks (a browser's headers, one address each) should mostly be valid", verdicts)
	}
	msgs, err := clustertest.ReadTopic(ctx, brokers, event.TopicClicks)
	if err != nil {
		t.Fatal(err)
	}
	kafkaClicks, kafkaIDs := 0, map[string]bool{}
	for _, m := range msgs {
		var env struct {
			Type    string             `json:"type"`
			Payload event.ClickPayload `json:"payload"`
		}
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatalf("message %s: %v", m.Value, err)
		}
		if env.Type == event.TypeClickRecorded && env.Payload.PartnerID == partner && env.Payload.SubID == "wrk" {
			kafkaClicks++
			kafkaIDs[env.Payload.ClickID] = true
			if string(m.Key) != partner {
				t.Errorf("click keyed %q, want the partner", m.Key)
			}
		}
	}
	if rows != logged || distinct != logged {
		t.Errorf("ClickHouse has %d rows (%d distinct click ids) for %d clicks", rows, distinct, logged)
	}
	if kafkaClicks != logged || len(kafkaIDs) != logged {
		t.Errorf("Kafka has %d messages (%d distinct click ids) for %d clicks", kafkaClicks, len(kafkaIDs), logged)
	}
	rateS := "?"
	if rate != nil {
		rateS = string(rate[1])
	}
	t.Logf("wrk through nginx: %d requests (%s req/s); nginx logged %d clicks: edge 1 %d, edge 2 %d; ClickHouse %d rows (%d distinct), Kafka %d messages (%d distinct); verdicts %v",
		wrkRequests, rateS, logged, served[0], served[1], rows, distinct, kafkaClicks, len(kafkaIDs), verdicts)
	t.Logf("refedge CPU: %.2f s for %d clicks = %.0f clicks per CPU-second (both edges, sinks included); ClickHouse clicks_local: %s",
		cpu, logged, float64(logged)/cpu, bytesPerRow)
	if testing.Verbose() {
		t.Logf("wrk output:\n%s", out)
	}
}

// wrkScript sends a browser's headers from a new client address per request (through
// X-Forwarded-For, which nginx extends and refedge trusts from loopback): each click is a
// new visitor, so the clicks are valid rather than bots, duplicates or rate-limited.
const wrkScript = `
local threads = 0
function setup(thread)
  thread:set("tid", threads) -- a global of the thread's own Lua state
  threads = threads + 1
end
local n = 0
wrk.headers["User-Agent"] = "` + browserUA + `"
wrk.headers["Accept"] = "text/html,application/xhtml+xml"
wrk.headers["Accept-Language"] = "en"
function request()
  n = n + 1
  wrk.headers["X-Forwarded-For"] = "198." .. (18 + tid % 2) .. "." .. (math.floor(n / 250) % 250) .. "." .. (n % 250 + 1)
  return wrk.format(nil)
end
`

// clicksTotal sums refedge_clicks_total over verdicts from an edge's /metrics.
func clicksTotal(t *testing.T, admin string) float64 { return metric(t, admin, "refedge_clicks_total") }

// metric sums the samples of one metric (every label set) from an edge's /metrics.
func metric(t *testing.T, admin, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, name+"{") || strings.HasPrefix(l, name+" ") {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", l, err)
			}
			sum += v
		}
	}
	return sum
}

// clickHouseClicks counts the wrk clicks through the Distributed table, and measures the
// stored bytes per row of clicks_local on both shards.
func clickHouseClicks(t *testing.T, ctx context.Context, chc clustertest.CHCluster, db, partner string) (rows, distinct int, verdicts map[string]int, perRow string) {
	t.Helper()
	conn, _, err := sink.OpenClickHouse(ctx, chc.DSN(1, db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n, u uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(click_id) FROM "+db+".clicks WHERE partner_id = ? AND sub_id = 'wrk'", partner).Scan(&n, &u); err != nil {
		t.Fatal(err)
	}
	verdicts = map[string]int{}
	rs, err := conn.Query(ctx, "SELECT verdict, count() FROM "+db+".clicks WHERE partner_id = ? AND sub_id = 'wrk' GROUP BY verdict", partner)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var v string
		var c uint64
		if err := rs.Scan(&v, &c); err != nil {
			t.Fatal(err)
		}
		verdicts[v] = int(c)
	}
	var comp, raw, parts uint64
	for i := range 2 {
		c, _, err := sink.OpenClickHouse(ctx, chc.DSN(i, db))
		if err != nil {
			t.Fatal(err)
		}
		var cb, ub, r uint64
		err = c.QueryRow(ctx, "SELECT sum(data_compressed_bytes), sum(data_uncompressed_bytes), sum(rows) FROM system.parts WHERE database = ? AND table = 'clicks_local' AND active", db).Scan(&cb, &ub, &r)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		comp, raw, parts = comp+cb, raw+ub, parts+r
	}
	if parts > 0 {
		perRow = fmt.Sprintf("%d rows, %.0f bytes per row uncompressed, %.1f compressed", parts, float64(raw)/float64(parts), float64(comp)/float64(parts))
	}
	return int(n), int(u), verdicts, perRow
}
