package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/testenv"
)

// Fault injection (docs/reliability.md has the figures).
const (
	// faultOutage is how long each server stays down.
	faultOutage = 30 * time.Second
	// faultRate is the click load in clicks per second.
	faultRate = 300
)

// outage is one server going down during the load.
type outage struct {
	name string
	sink string // the click sink that spools meanwhile, "" for none
	stop func()
	up   func()

	down, restart time.Time // when the server was dead, and when its restart began
	ready         time.Time // when it answered again
}

// redisRecovery is how soon after Redis answers again clicks must stop being degraded
// (the Redis client's circuit breaker probes every second).
const redisRecovery = 5 * time.Second

// TestOutagesLoseNothing: under a steady click load, private ClickHouse, Kafka broker
// and Redis servers are each stopped for 30 s and started again on the same port and
// data. Every click answered 302 is in ClickHouse, counted exactly once by the analytics
// queries, and on Kafka at least once; clicks during the Redis outage are still 302 and
// recorded as degraded:redis.
func TestOutagesLoseNothing(t *testing.T) {
	t.Parallel()
	rds := testenv.StartRedis(t)
	ch := testenv.StartClickHouse(t)
	broker, brokerAddr := startKafkaDev(t)
	s := launch(t, stackConfig{redisURL: rds.URL(0), chDSN: ch.DSN("refedge"), brokers: []string{brokerAddr}, spoolDir: t.TempDir()})
	partner := "fault-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	s.putPartner(partner, "active")

	start := time.Now()
	load := startLoad(s, partner, faultRate)
	waitEvery(t, "the first clicks in ClickHouse", time.Minute, 250*time.Millisecond, func() bool {
		return s.metric("refedge_sink_events_written_total", sinkLabels("clickhouse")) > 0 &&
			s.metric("refedge_sink_events_written_total", sinkLabels("kafka")) > 0
	})

	outages := []*outage{
		// SIGKILL: ClickHouse gets no chance to finish the insert in flight.
		{name: "clickhouse", sink: "clickhouse", stop: func() { ch.Stop(syscall.SIGKILL) }, up: ch.Start},
		// SIGTERM: a broker restart as in a rolling upgrade (kfake's on-disk log is
		// not meant to survive a crash).
		{name: "kafka", sink: "kafka", stop: func() { broker.Stop(syscall.SIGTERM) }, up: broker.Start},
		// SIGKILL: the partner registry survives in the append-only file.
		{name: "redis", stop: func() { rds.Stop(syscall.SIGKILL) }, up: rds.Start},
	}
	for _, o := range outages {
		var spooled float64
		if o.sink != "" {
			spooled = s.metric("refedge_spool_events_spooled_total", sinkLabels(o.sink))
		}
		o.stop()
		o.down = time.Now()
		if o.sink != "" {
			waitEvery(t, "clicks spooled for "+o.sink, faultOutage, 200*time.Millisecond, func() bool {
				return s.metric("refedge_spool_events_spooled_total", sinkLabels(o.sink)) > spooled
			})
		}
		// The outage itself: the load runs on while the server is down.
		<-time.After(faultOutage - time.Since(o.down))
		o.restart = time.Now()
		o.up()
		o.ready = time.Now()
		t.Logf("%s down %.1fs; back after %.1fs", o.name, o.restart.Sub(o.down).Seconds(), time.Since(o.restart).Seconds())
		if o.sink != "" {
			waitEvery(t, o.sink+" spool replayed", 3*time.Minute, 250*time.Millisecond, func() bool {
				return s.metric("refedge_spool_bytes", sinkLabels(o.sink)) == 0
			})
		} else {
			// Long enough to see the edge use Redis again (checked below).
			n := load.count()
			waitEvery(t, "clicks after the "+o.name+" restart", 2*time.Minute, 100*time.Millisecond, func() bool {
				return load.count() > n+faultRate*int((redisRecovery+3*time.Second)/time.Second)
			})
		}
	}
	results := load.halt()
	end := time.Now()

	// Every click was answered, and with a redirect.
	var ok302 []clickResult
	failed := 0
	for _, r := range results {
		switch {
		case r.err != nil || r.status != 302:
			if failed++; failed <= 10 {
				t.Errorf("click sub=%d sent %.1fs into the test: status %d, %v", r.sub, r.sent.Sub(start).Seconds(), r.status, r.err)
			}
		default:
			ok302 = append(ok302, r)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d clicks not answered 302", failed, len(results))
	}
	if len(ok302) < faultRate*60 {
		t.Fatalf("only %d clicks answered in %v", len(ok302), end.Sub(start))
	}

	// ClickHouse: every 302'd sub arrives (found by plain SQL).
	dsn := ch.DSN("refedge")
	var rows map[string]*subRows
	var missing []clickResult
	arrived := eventually(3*time.Minute, 2*time.Second, func() bool {
		rows, missing = clickHouseSubs(t, dsn, partner), nil
		for _, r := range ok302 {
			if rows[strconv.Itoa(r.sub)] == nil {
				missing = append(missing, r)
			}
		}
		return len(missing) == 0
	})
	if !arrived {
		t.Fatalf("%d of %d clicks answered 302 never reached ClickHouse: %s", len(missing), len(ok302), describe(missing, start, outages))
	}
	// Kafka: every 302'd sub arrives at least once.
	var kmsgs int
	var ksubs map[string]map[string]bool
	var kmissing []clickResult
	arrived = eventually(3*time.Minute, 3*time.Second, func() bool {
		kmsgs, ksubs = kafkaSubs(t, []string{brokerAddr}, partner)
		kmissing = kmissing[:0]
		for _, r := range ok302 {
			if ksubs[strconv.Itoa(r.sub)] == nil {
				kmissing = append(kmissing, r)
			}
		}
		return len(kmissing) == 0
	})
	if !arrived {
		t.Fatalf("%d of %d clicks answered 302 never reached Kafka: %s", len(kmissing), len(ok302), describe(kmissing, start, outages))
	}

	// The partner's clicks as refedge's analytics counts them: exactly once each.
	total, bySub := analyticsCounts(t, dsn, partner, start, end, len(ok302)+1000)
	if total != uint64(len(ok302)) {
		t.Errorf("analytics Stats counts %d clicks; %d were answered 302", total, len(ok302))
	}
	counted := map[string]bool{}
	wrong := 0
	for _, r := range ok302 {
		sub := strconv.Itoa(r.sub)
		counted[sub] = true
		if n := bySub[sub]; n != 1 {
			if wrong++; wrong <= 10 {
				t.Errorf("analytics Clicks lists sub=%d %d times, want 1", r.sub, n)
			}
		}
	}
	for sub, n := range bySub {
		if !counted[sub] {
			t.Errorf("analytics Clicks lists sub=%s (%d times), which was never answered 302", sub, n)
		}
	}

	// Raw figures, duplicates included.
	rawRows, distinctRows, degradedIn, degradedOut := 0, 0, 0, 0
	redis := outages[2]
	for _, r := range ok302 {
		sr := rows[strconv.Itoa(r.sub)]
		rawRows += sr.rows
		distinctRows += len(sr.ids)
		if len(sr.ids) != 1 {
			t.Errorf("sub=%d has %d click ids in ClickHouse, want 1", r.sub, len(sr.ids))
		}
		// Classified while Redis was dead: sent after it died, answered before its
		// restart began.
		if r.sent.After(redis.down) && r.answered.Before(redis.restart) {
			degradedIn++
			if !sr.degraded {
				t.Errorf("sub=%d was answered during the Redis outage but its row lacks degraded:redis (verdict %s)", r.sub, sr.verdict)
			}
		} else if sr.degraded {
			degradedOut++
			if r.sent.After(redis.ready.Add(redisRecovery)) {
				t.Errorf("sub=%d was sent %v after Redis answered again and is still degraded:redis", r.sub, r.sent.Sub(redis.ready).Round(time.Millisecond))
			}
		}
	}
	if want := faultRate * int(faultOutage/time.Second) / 2; degradedIn < want {
		t.Errorf("only %d clicks were answered during the Redis outage, want at least %d (half the load)", degradedIn, want)
	}
	kdistinct := 0
	for _, ids := range ksubs {
		kdistinct += len(ids)
	}
	t.Logf("clicks sent %d, answered 302 %d; ClickHouse rows %d, distinct click ids %d (duplicate rows %d); "+
		"analytics total %d",
		len(results), len(ok302), rawRows, distinctRows, rawRows-distinctRows, total)
	t.Logf("Kafka messages %d, distinct click ids %d (duplicates %d)", kmsgs, kdistinct, kmsgs-kdistinct)
	lastDegraded := time.Duration(0)
	for _, r := range ok302 {
		if r.sent.After(redis.ready) && rows[strconv.Itoa(r.sub)].degraded {
			lastDegraded = max(lastDegraded, r.sent.Sub(redis.ready))
		}
	}
	t.Logf("during the Redis outage: %d clicks, all 302 and degraded:redis; degraded outside the outage window: %d "+
		"(the last sent %v after Redis answered again)", degradedIn, degradedOut, lastDegraded.Round(time.Millisecond))
	for _, o := range outages {
		var during []clickResult
		for _, r := range ok302 {
			if r.sent.After(o.down) && r.answered.Before(o.restart) {
				during = append(during, r)
			}
		}
		t.Logf("%s outage: %d clicks answered 302 while it was down; latency %s", o.name, len(during), latencySummary(during))
	}
	for _, sink := range []string{"clickhouse", "kafka"} {
		t.Logf("sink %s: spooled %.0f, replayed %.0f, write errors %.0f", sink,
			s.metric("refedge_spool_events_spooled_total", sinkLabels(sink)),
			s.metric("refedge_spool_events_replayed_total", sinkLabels(sink)),
			s.metric("refedge_sink_errors_total", sinkLabels(sink)))
	}
	t.Logf("latency of all clicks: %s", latencySummary(ok302))
}

// latencySummary gives the median, 99th percentile and maximum answer time of rs.
func latencySummary(rs []clickResult) string {
	if len(rs) == 0 {
		return "(no clicks)"
	}
	lat := make([]time.Duration, len(rs))
	for i, r := range rs {
		lat[i] = r.answered.Sub(r.sent).Round(time.Millisecond)
	}
	slices.Sort(lat)
	return fmt.Sprintf("p50 %v, p99 %v, max %v", lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// describe tells when the first few of rs were sent, relative to the start and to the
// outages, for failure messages.
func describe(rs []clickResult, start time.Time, outages []*outage) string {
	var b strings.Builder
	for i, r := range rs {
		if i == 10 {
			fmt.Fprintf(&b, " … and %d more", len(rs)-i)
			break
		}
		phase := "outside any outage"
		for _, o := range outages {
			if !o.down.IsZero() && r.sent.After(o.down.Add(-5*time.Second)) && (o.restart.IsZero() || r.sent.Before(o.restart.Add(time.Minute))) {
				phase = fmt.Sprintf("%+.1fs from the %s stop", r.sent.Sub(o.down).Seconds(), o.name)
			}
		}
		fmt.Fprintf(&b, "\n  sub=%d sent at %.1fs (%s)", r.sub, r.sent.Sub(start).Seconds(), phase)
	}
	return b.String()
}
