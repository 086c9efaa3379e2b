package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/clustertest"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/testenv"
)

// Helpers of the fault-injection tests (fault_test.go, kill9_test.go): a broker process
// of the test's own, a steady click load that records every answer, and readers of what
// arrived in ClickHouse, on Kafka and in refedge's metrics.

// startKafkaDev runs `refedge kafka-dev` on a free port with its log on disk, so the
// broker can be stopped and started again with its data. It returns the process and
// the broker address.
func startKafkaDev(t *testing.T) (*testenv.Proc, string) {
	t.Helper()
	addr, dir := testenv.FreeAddr(t), t.TempDir()
	p := testenv.StartProc(t, testenv.ProcConfig{
		Name: "kafka-dev", Path: clustertest.Binary(t), Args: []string{"kafka-dev"}, Dir: dir,
		Env: []string{"REFEDGE_KAFKA_EMBEDDED_ADDR=" + addr, "REFEDGE_KAFKA_DATA_DIR=" + filepath.Join(dir, "data")},
		Ready: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return kafkaReady(ctx, []string{addr})
		},
	})
	return p, addr
}

// eventually polls cond every interval until it holds (true) or d has passed (false),
// so the caller can say what is missing.
func eventually(d, interval time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
	return true
}

// kill ends refedge with SIGKILL (nothing is flushed) and waits for the exit.
func (s *stack) kill() { s.p.Stop(syscall.SIGKILL) }

// metric returns the sample name{labels} of the admin listener's /metrics (labels as
// Prometheus prints them, sorted: `pipeline="clicks",sink="clickhouse"`), 0 if absent.
func (s *stack) metric(name, labels string) float64 {
	s.t.Helper()
	resp, err := http.Get(s.admin + "/metrics")
	if err != nil {
		s.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				s.t.Fatalf("/metrics: %s: %v", sc.Text(), err)
			}
			return f
		}
	}
	return 0
}

// sinkLabels are the metric labels of the click pipeline's sink.
func sinkLabels(sink string) string { return `pipeline="clicks",sink="` + sink + `"` }

// clickResult is one click of a load: its sub, when it was sent and answered, and the
// status (0 when the request failed; err says why).
type clickResult struct {
	sub            int
	sent, answered time.Time
	status         int
	err            error
}

// clickLoad sends referral clicks at a steady rate to one refedge, each from a new
// visitor (its own X-Forwarded-For address; loopback is a trusted proxy) with the
// browser headers of stack.click and a unique sub=<n>, and records every answer.
type clickLoad struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	res      []clickResult
}

// loadWorkers bounds the clicks in flight: enough to hold the rate while clicks wait
// on a dead Redis (~0.2 s each).
const loadWorkers = 64

// startLoad starts the load; it is halted at the end of the test if the test has not
// halted it.
func startLoad(s *stack, partner string, perSecond int) *clickLoad {
	l := &clickLoad{stop: make(chan struct{})}
	s.t.Cleanup(func() { l.halt() })
	jobs := make(chan int, perSecond)
	l.wg.Add(1)
	go func() { // the pacer: perSecond/100 clicks every 10 ms
		defer l.wg.Done()
		defer close(jobs)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			for range max(perSecond/100, 1) {
				select {
				case jobs <- n:
					n++
				case <-l.stop:
					return
				}
			}
		}
	}()
	for range loadWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for n := range jobs {
				r := clickResult{sub: n, sent: time.Now()}
				xff := fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
				resp, _, err := s.click(fmt.Sprintf("/fault/%d?ref=%s&sub=%d", n, partner, n), "X-Forwarded-For", xff)
				r.answered, r.err = time.Now(), err
				if err == nil {
					r.status = resp.StatusCode
				}
				l.mu.Lock()
				l.res = append(l.res, r)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// count returns how many clicks have been answered so far.
func (l *clickLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.res)
}

// halt stops the load, waits for the clicks in flight and returns every result in sub
// order. Later calls return the same results.
func (l *clickLoad) halt() []clickResult {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	slices.SortFunc(l.res, func(a, b clickResult) int { return a.sub - b.sub })
	return l.res
}

// subRows is what ClickHouse holds for one sub.
type subRows struct {
	rows     int
	ids      map[string]bool
	degraded bool // a row carries the reason degraded:redis
	verdict  string
}

// clickHouseSubs reads partner's rows by sub_id with plain SQL, to find which clicks
// arrived (the exactly-once count is the analytics package's, see analyticsCounts).
func clickHouseSubs(t *testing.T, dsn, partner string) map[string]*subRows {
	t.Helper()
	out, err := queryClickHouseSubs(t, dsn, partner)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// clickHouseSubsIfReady is clickHouseSubs for a server that may not answer yet (or
// whose tables are not created yet): nil until it does.
func clickHouseSubsIfReady(t *testing.T, dsn, partner string) map[string]*subRows {
	t.Helper()
	out, err := queryClickHouseSubs(t, dsn, partner)
	if err != nil {
		return nil
	}
	return out
}

func queryClickHouseSubs(t *testing.T, dsn, partner string) (map[string]*subRows, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, db, err := sink.OpenClickHouse(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	rows, err := conn.Query(ctx, "SELECT sub_id, click_id, verdict, has(reasons, 'degraded:redis') FROM "+db+".clicks WHERE partner_id = ?", partner)
	if err != nil {
		return nil, fmt.Errorf("reading clicks: %w", err)
	}
	defer rows.Close()
	out := map[string]*subRows{}
	for rows.Next() {
		var sub, id, verdict string
		var degraded uint8
		if err := rows.Scan(&sub, &id, &verdict, &degraded); err != nil {
			return nil, err
		}
		r := out[sub]
		if r == nil {
			r = &subRows{ids: map[string]bool{}}
			out[sub] = r
		}
		r.rows++
		r.ids[id] = true
		r.degraded = r.degraded || degraded == 1
		r.verdict = verdict
	}
	return out, rows.Err()
}

// kafkaSubs reads referral.clicks: the messages of partner, and the distinct click ids
// of each sub.
func kafkaSubs(t *testing.T, brokers []string, partner string) (msgs int, subs map[string]map[string]bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	all, err := kafkax.ReadAll(ctx, brokers, event.TopicClicks)
	if err != nil {
		t.Fatalf("reading %s: %v", event.TopicClicks, err)
	}
	subs = map[string]map[string]bool{}
	for _, m := range all {
		var env event.Envelope
		var p event.ClickPayload
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatalf("message %q: %v", m.Value, err)
		}
		if err := json.Unmarshal(env.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.PartnerID != partner {
			continue
		}
		msgs++
		if subs[p.SubID] == nil {
			subs[p.SubID] = map[string]bool{}
		}
		subs[p.SubID][p.ClickID] = true
	}
	return msgs, subs
}

// analyticsCounts asks refedge's own analytics query functions how partner's clicks
// between from and to count: the stats total (one per click id) and, from the click
// list (one row per click id), how many clicks each sub has.
func analyticsCounts(t *testing.T, dsn, partner string, from, to time.Time, limit int) (total uint64, bySub map[string]int) {
	t.Helper()
	ctx := t.Context()
	conn, db, err := sink.OpenClickHouse(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	an, err := analytics.New(analytics.Config{Conn: conn, DB: db, QueryTimeout: 2 * time.Minute,
		Sealer: analytics.SealerConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	r := analytics.Range{From: from.UTC().Truncate(time.Hour), To: to.UTC().Truncate(time.Hour).Add(time.Hour),
		Interval: analytics.AnalyticsHour}
	st, err := an.Stats(ctx, partner, analytics.StatsQuery{Range: r})
	if err != nil {
		t.Fatalf("analytics Stats: %v", err)
	}
	cs, err := an.Clicks(ctx, partner, analytics.ClicksQuery{Range: r, Limit: limit})
	if err != nil {
		t.Fatalf("analytics Clicks: %v", err)
	}
	bySub = map[string]int{}
	for _, c := range cs.Clicks {
		bySub[c.SubID]++
	}
	return st.Totals.Clicks, bySub
}
