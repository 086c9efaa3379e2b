package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/clustertest"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/testenv"
)

const e2eSecret = "e2e-secret-0123456789abcdef"

// stack is a running refedge process with real Redis and ClickHouse and a broker in
// the test process (so Kafka outlives the edge and can be read after it stops).
type stack struct {
	t       *testing.T
	cfg     stackConfig
	p       *testenv.Proc
	http    string // base URL of the public listener
	admin   string
	db      string
	brokers []string
}

// stackConfig names the servers a refedge process uses. launch starts a process on
// it; the fault tests launch a second one on the same config (and spool) after a kill.
type stackConfig struct {
	redisURL string
	chDSN    string // native DSN naming the database
	brokers  []string
	spoolDir string
}

func startStack(t *testing.T) *stack {
	t.Helper()
	rdb := testenv.Redis(t)
	_, db := testenv.ClickHouse(t)
	brokers := testBroker(t)
	opts := rdb.Options()
	chDSN := testenv.ClickHouseDSN(t)
	chDSN = chDSN[:strings.LastIndexByte(chDSN, '/')+1] + db
	return launch(t, stackConfig{
		redisURL: fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB),
		chDSN:    chDSN,
		brokers:  brokers,
		spoolDir: t.TempDir(),
	})
}

// testBroker starts an embedded Kafka broker in the test process, so it outlives the
// refedge processes a test starts and kills, and returns its addresses.
func testBroker(t *testing.T) []string {
	t.Helper()
	broker, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: event.AllTopics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	return broker.Addrs()
}

// launchEnv is the environment launch starts refedge with: the test's own, then the
// stack's settings.
func launchEnv(t *testing.T, cfg stackConfig) []string {
	return append(os.Environ(),
		"REFEDGE_HTTP_ADDR=127.0.0.1:0",
		"REFEDGE_ADMIN_ADDR=127.0.0.1:0",
		"REFEDGE_MARKET_ORIGIN=https://market.example",
		"REFEDGE_SECRET="+e2eSecret,
		"REFEDGE_REDIS_URL="+cfg.redisURL,
		"REFEDGE_CLICKHOUSE_DSN="+cfg.chDSN,
		"REFEDGE_KAFKA_BROKERS="+strings.Join(cfg.brokers, ","),
		"REFEDGE_SPOOL_DIR="+cfg.spoolDir,
		"REFEDGE_BANNERS_DIR="+t.TempDir(),
		"REFEDGE_BANNERS_CACHE_DIR="+t.TempDir(),
		"REFEDGE_LOG_FORMAT=json",
		"REFEDGE_DEV=0",
		"REFEDGE_ADMIN_TOKENS="+admintest.EnvValue,
		// The hostile suite presents thousands of wrong credentials from one address.
		"REFEDGE_ADMIN_AUTH_FAILURES=1000000000",
	)
}

// launch starts refedge on cfg and waits until it logs "refedge ready" with its
// listeners' addresses. The process is killed in t.Cleanup if the test has not stopped it.
func launch(t *testing.T, cfg stackConfig) *stack {
	t.Helper()
	s := &stack{t: t, cfg: cfg, db: cfg.chDSN[strings.LastIndexByte(cfg.chDSN, '/')+1:], brokers: cfg.brokers}
	s.p = testenv.StartProc(t, testenv.ProcConfig{
		Name: "refedge", Path: clustertest.Binary(t), Env: launchEnv(t, cfg),
		StartTimeout: time.Minute, StopTimeout: time.Minute,
		ReadyLine: func(line string) bool {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "refedge ready" {
				return false
			}
			public, _ := m["http"].(string)
			admin, _ := m["admin"].(string)
			s.http, s.admin = "http://"+public, "http://"+admin
			return true
		},
	})
	return s
}

// log returns what refedge has printed.
func (s *stack) log() string { return s.p.Output() }

// stop sends SIGTERM and wants a clean exit within a minute.
func (s *stack) stop() {
	s.t.Helper()
	if err := s.p.Stop(syscall.SIGTERM); err != nil {
		s.t.Fatalf("refedge exited with %v after SIGTERM", err)
	}
}

func (s *stack) putPartner(id, status string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.admin+"/admin/v1/partners/"+id, strings.NewReader(`{"status":"`+status+`"}`))
	resp, err := http.DefaultClient.Do(admintest.AsAdmin(req))
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("PUT partner %s: %d", id, resp.StatusCode)
	}
}

var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
	// A click never takes this long; a request that does is a hang, reported as an error.
	Timeout: 30 * time.Second,
}

// click sends one referral click the way a browser does (a bare Go client is a bot to
// refedge) and returns the response and the rfe_ref cookie value.
// hdr adds name, value pairs (e.g. a distinct X-Forwarded-For per simulated visitor).
func (s *stack) click(path string, hdr ...string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, s.http+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("Accept-Language", "en-US,en;q=0.9")
	req.Header.Set("Sec-Fetch-Dest", "document")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-User", "?1")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == refcookie.Name {
			return resp, c.Value, nil
		}
	}
	return resp, "", nil
}

type clickRow struct {
	ClickID, Partner, Verdict string
}

func (s *stack) clickRows(ctx context.Context) map[string]clickRow {
	s.t.Helper()
	conn, _, err := sink.OpenClickHouse(ctx, s.cfg.chDSN)
	if err != nil {
		s.t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT click_id, partner_id, verdict FROM "+s.db+".clicks")
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]clickRow{}
	for rows.Next() {
		var r clickRow
		if err := rows.Scan(&r.ClickID, &r.Partner, &r.Verdict); err != nil {
			s.t.Fatal(err)
		}
		if _, dup := out[r.ClickID]; dup {
			s.t.Errorf("click %s is in ClickHouse twice", r.ClickID)
		}
		out[r.ClickID] = r
	}
	return out
}

func (s *stack) kafkaClicks(ctx context.Context) map[string]event.ClickPayload {
	s.t.Helper()
	msgs, err := kafkax.ReadAll(ctx, s.brokers, event.TopicClicks)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]event.ClickPayload{}
	for _, m := range msgs {
		var env event.Envelope
		var p event.ClickPayload
		if err := json.Unmarshal(m.Value, &env); err != nil {
			s.t.Fatalf("message %q: %v", m.Value, err)
		}
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			s.t.Fatal(err)
		}
		if string(m.Key) != p.PartnerID || env.ID != p.ClickID || env.Type != event.TypeClickRecorded {
			s.t.Errorf("message key %q / envelope %+v does not match payload %+v", m.Key, env, p)
		}
		out[p.ClickID] = p
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	waitEvery(t, what, d, 20*time.Millisecond, cond)
}

// waitEvery polls cond every interval until it holds or the deadline passes; for
// conditions that cost a query.
func waitEvery(t *testing.T, what string, d, interval time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(interval)
	}
}

func TestClickEndToEnd(t *testing.T) {
	s := startStack(t)
	s.putPartner("e2e-good", "active")
	s.putPartner("e2e-blocked", "blocked")
	ctx := t.Context()

	resp, ref, err := s.click("/categories/design?x=1&ref=e2e-good&src=link")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://market.example/categories/design?x=1" {
		t.Fatalf("valid click: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	r, err := refcookie.Decode([]byte(ref), signing.MustKeyring(e2eSecret))
	if err != nil {
		t.Fatalf("rfe_ref %q: %v", ref, err)
	}
	validID := string(r.ClickID)
	for _, p := range []string{"e2e-unknown", "e2e-blocked"} {
		resp, ref, err := s.click("/x?ref=" + p)
		if err != nil || resp.StatusCode != 302 || ref != "" {
			t.Fatalf("click for %s: %v, status %d, rfe_ref %q", p, err, resp.StatusCode, ref)
		}
	}

	var rows map[string]clickRow
	waitFor(t, "3 click rows in ClickHouse", 30*time.Second, func() bool { rows = s.clickRows(ctx); return len(rows) >= 3 })
	var kmsgs map[string]event.ClickPayload
	waitFor(t, "3 messages on referral.clicks", 30*time.Second, func() bool { kmsgs = s.kafkaClicks(ctx); return len(kmsgs) >= 3 })
	s.stop()
	rows, kmsgs = s.clickRows(ctx), s.kafkaClicks(ctx)
	if len(rows) != 3 || len(kmsgs) != 3 {
		t.Fatalf("%d rows and %d messages, want 3 of each", len(rows), len(kmsgs))
	}
	if rows[validID].Verdict != "valid" || kmsgs[validID].Verdict != "valid" || rows[validID].Partner != "e2e-good" {
		t.Fatalf("valid click %s: row %+v, message %+v", validID, rows[validID], kmsgs[validID])
	}
	verdicts := map[string]string{}
	for id, row := range rows {
		verdicts[row.Partner] = row.Verdict
		if kmsgs[id].Verdict != row.Verdict {
			t.Errorf("click %s: ClickHouse says %s, Kafka says %s", id, row.Verdict, kmsgs[id].Verdict)
		}
	}
	if verdicts["e2e-unknown"] != "unknown_partner" || verdicts["e2e-blocked"] != "blocked_partner" {
		t.Fatalf("verdicts %v", verdicts)
	}
}

// TestSIGTERMUnderLoadLosesNothing: clicks keep arriving while refedge gets SIGTERM;
// every click that was answered with a 302 is in ClickHouse and on Kafka afterwards.
func TestSIGTERMUnderLoadLosesNothing(t *testing.T) {
	s := startStack(t)
	s.putPartner("e2e-load", "active")
	keys := signing.MustKeyring(e2eSecret)
	var (
		mu       sync.Mutex
		answered = map[string]bool{}
		sent     atomic.Int64
		wg       sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				// Each click is a different visitor (the loopback peer is a trusted proxy),
				// so none is a duplicate or over a rate limit: every one gets rfe_ref.
				xff := fmt.Sprintf("10.%d.%d.%d", w, i/256%256, i%256)
				// Workers keep clicking through the SIGTERM until the listener refuses
				// them: the interesting clicks are the ones in flight during shutdown.
				resp, ref, err := s.click(fmt.Sprintf("/k/%d?ref=e2e-load", i), "X-Forwarded-For", xff)
				if err != nil {
					return // the listener is gone
				}
				sent.Add(1)
				if resp.StatusCode != 302 {
					t.Errorf("status %d", resp.StatusCode)
					return
				}
				r, err := refcookie.Decode([]byte(ref), keys)
				if err != nil {
					t.Errorf("rfe_ref %q: %v", ref, err)
					return
				}
				mu.Lock()
				answered[string(r.ClickID)] = true
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "200 clicks answered", 60*time.Second, func() bool { return sent.Load() >= 200 })
	s.stop()
	wg.Wait()
	ctx := t.Context()
	rows, kmsgs := s.clickRows(ctx), s.kafkaClicks(ctx)
	missingCH, missingKafka := 0, 0
	for id := range answered {
		if _, ok := rows[id]; !ok {
			missingCH++
		}
		if _, ok := kmsgs[id]; !ok {
			missingKafka++
		}
	}
	t.Logf("%d clicks answered with 302; %d rows in ClickHouse, %d messages on Kafka", len(answered), len(rows), len(kmsgs))
	if missingCH != 0 || missingKafka != 0 {
		t.Fatalf("lost clicks: %d missing in ClickHouse, %d missing on Kafka (of %d answered)", missingCH, missingKafka, len(answered))
	}
	if len(answered) < 200 {
		t.Fatalf("only %d clicks answered", len(answered))
	}
	if !strings.Contains(s.log(), `"step":"flush click events"`) {
		t.Fatal("the shutdown did not log the flush step")
	}
}
