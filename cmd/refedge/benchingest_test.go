package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/testenv"
)

// TestBenchIngest runs `refedge bench-ingest` briefly against real ClickHouse and an
// embedded broker: every enqueued click must be counted in both, and the report must
// carry the figures run.sh reads.
func TestBenchIngest(t *testing.T) {
	rdb := testenv.Redis(t)
	_, db := testenv.ClickHouse(t)
	chDSN := testenv.ClickHouseDSN(t)
	chDSN = chDSN[:strings.LastIndexByte(chDSN, '/')+1] + db
	opts := rdb.Options()
	env := map[string]string{
		"REFEDGE_MARKET_ORIGIN":  "https://market.example",
		"REFEDGE_SECRET":         "bench-secret-0123456789abcdef",
		"REFEDGE_REDIS_URL":      fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB),
		"REFEDGE_CLICKHOUSE_DSN": chDSN,
		"REFEDGE_KAFKA_BROKERS":  "embedded",
		"REFEDGE_SPOOL_DIR":      t.TempDir(),
		"REFEDGE_HTTP_ADDR":      "127.0.0.1:0",
		"REFEDGE_ADMIN_ADDR":     "127.0.0.1:0",
		// Small batches, so a 2 s run makes many of them.
		"REFEDGE_EVENT_QUEUE_SIZE": "4096",
		"REFEDGE_EVENT_BATCH_SIZE": "2000",
	}
	var out, errOut bytes.Buffer
	code := run([]string{"bench-ingest", "-duration", "2s", "-sample", "500ms", "-mark", "10000", "-producers", "2"},
		func(k string) string { return env[k] }, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	res := regexp.MustCompile(`(?m)^RESULT .*$`).FindString(out.String())
	for _, want := range []string{"label=all ", "clickhouse_missing=0 ", "broker_missing=0 "} {
		if !strings.Contains(res, want) {
			t.Errorf("RESULT line lacks %q:\n%s", want, out.String())
		}
	}
	if regexp.MustCompile(`clickhouse_per_s=0 |rss_mark_mb=0 `).MatchString(res) {
		t.Errorf("no throughput or no RSS at the mark:\n%s", out.String())
	}
}
