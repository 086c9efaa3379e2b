package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/testenv"
)

// TestStartsWhileRedisAndClickHouseAreDown: a pod restarted during an outage must serve,
// not crash-loop. refedge starts with its (private) Redis and ClickHouse stopped, is
// ready (its own state is fine) while reporting both dependencies down, answers clicks
// with 302 marked degraded:redis; when both servers return, the schema is applied in
// the background and the spooled clicks arrive.
func TestStartsWhileRedisAndClickHouseAreDown(t *testing.T) {
	t.Parallel()
	ch := testenv.StartClickHouse(t)
	rd := testenv.StartRedis(t)
	brokers := testBroker(t)
	ch.Stop(syscall.SIGKILL)
	rd.Stop(syscall.SIGKILL)

	s := launch(t, stackConfig{redisURL: rd.URL(0), chDSN: ch.DSN("refedge"), brokers: brokers, spoolDir: t.TempDir()})
	code, ready := readyz(t, s.admin+"/readyz")
	deps, _ := ready["dependencies"].(map[string]any)
	if code != http.StatusOK || ready["degraded"] != true || deps["redis"] == "ok" || deps["clickhouse"] == "ok" {
		t.Fatalf("/readyz with Redis and ClickHouse down: %d %v; want 200, degraded, both reported down", code, ready)
	}
	if code, _ := readyz(t, s.admin+"/readyz?strict=1"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz?strict=1 with dependencies down: %d, want 503", code)
	}

	partner := "cold-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	const n = 20
	for i := 0; i < n; i++ {
		resp, _, err := s.click("/k/1?ref="+partner+"&sub=c"+strconv.Itoa(i), "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("click %d during the outage: %d, want 302", i, resp.StatusCode)
		}
	}
	waitFor(t, "the clicks to be spooled for ClickHouse", time.Minute, func() bool {
		return s.metric("refedge_spool_bytes", sinkLabels("clickhouse")) > 0
	})

	ch.Start()
	rd.Start()
	var subs map[string]*subRows
	waitEvery(t, "every click in ClickHouse after the outage", 3*time.Minute, time.Second, func() bool {
		subs = clickHouseSubsIfReady(t, ch.DSN("refedge"), partner)
		return len(subs) == n
	})
	for sub, r := range subs {
		if !r.degraded {
			t.Errorf("click %s answered while Redis was down lacks degraded:redis (verdict %s)", sub, r.verdict)
		}
	}
	waitFor(t, "/readyz to report every dependency ok", time.Minute, func() bool {
		code, m := readyz(t, s.admin+"/readyz?strict=1")
		return code == http.StatusOK && m["degraded"] == false
	})
}

func readyz(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, m
}
