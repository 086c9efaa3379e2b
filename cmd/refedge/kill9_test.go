package main

import (
	"bufio"
	be "encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/attribution/spool"
	"github.com/refedge/refedge/internal/testenv"
)

// atRiskBound is the documented bound on clicks answered 302 that a kill -9 can lose
// while a sink is down (docs/reliability.md "kill -9"), from the click pipeline's
// settings (eventPipelineConfig, and the spool's defaults but for its size).
type atRiskBound struct {
	// Hard caps what the pipeline can hold in memory at all: the queue, the batch
	// the collector hands over, SinkQueue batches waiting for the sink and the batch
	// the sink is writing.
	Hard int
	// Window: a click accepted longer ago than this is on disk. It waits at most
	// FlushInterval in the collector's batch; a batch is spooled at once while older
	// batches are spooled, and after SpoolAfter failed attempts (Onset: the backoffs
	// between them) when the outage has just begun.
	Window, Onset time.Duration
}

// killSlack covers the spool's write and fsync and the scheduling of a shared two-core
// machine; it is added to the window the test allows, not to the documented bound.
const killSlack = time.Second

func clickAtRiskBound(t *testing.T, env []string) atRiskBound {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	events := pipeline.NewDefaultConfig()
	if err := events.LoadEnv(func(k string) string { return vars[k] }); err != nil {
		t.Fatalf("the environment refedge is launched with: %v", err)
	}
	pc, sc := eventPipelineConfig(events, "clicks", nil), spool.NewDefaultConfig()
	var onset time.Duration
	backoff := pc.RetryMin
	for range sc.SpoolAfter - 1 {
		onset += backoff + backoff/4 // each backoff has up to 25% jitter
		backoff = min(2*backoff, pc.RetryMax)
	}
	return atRiskBound{
		Hard:   pc.MemoryBound(),
		Window: pc.FlushInterval + onset,
		Onset:  onset,
	}
}

// TestKill9WhileSpooling: under load, with ClickHouse (private) down so clicks are
// being spooled, refedge is killed with SIGKILL; ClickHouse comes back and refedge is
// started again on the same spool. Every click on the spool at the kill arrives; the
// clicks lost are the ones still in memory, within the documented bound.
func TestKill9WhileSpooling(t *testing.T) {
	t.Parallel()
	ch := testenv.StartClickHouse(t)
	rdb := testenv.Redis(t)
	// The broker lives in the test process: it outlives both refedge processes.
	brokers := testBroker(t)
	opts := rdb.Options()
	cfg := stackConfig{
		redisURL: "redis://" + opts.Addr + "/" + strconv.Itoa(opts.DB),
		chDSN:    ch.DSN("refedge"),
		brokers:  brokers,
		spoolDir: t.TempDir(),
	}
	s := launch(t, cfg)
	partner := "kill9-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	s.putPartner(partner, "active")

	start := time.Now()
	load := startLoad(s, partner, faultRate)
	waitEvery(t, "the first clicks in ClickHouse", time.Minute, 250*time.Millisecond, func() bool {
		return s.metric("refedge_sink_events_written_total", sinkLabels("clickhouse")) > 0
	})
	ch.Stop(syscall.SIGKILL)
	// Well into the outage: batches go straight to the spool.
	waitEvery(t, "2000 clicks spooled", 2*time.Minute, 100*time.Millisecond, func() bool {
		return s.metric("refedge_spool_events_spooled_total", sinkLabels("clickhouse")) >= 2000
	})
	spooledMetric := s.metric("refedge_spool_events_spooled_total", sinkLabels("clickhouse"))
	killAt := time.Now()
	s.kill()
	results := load.halt()

	spoolDir := filepath.Join(cfg.spoolDir, "clicks", "clickhouse")
	spooled, torn := readClickSpool(t, spoolDir)
	if len(spooled) < 2000 {
		t.Fatalf("%d clicks on the spool after the kill; the metric said %.0f before it", len(spooled), spooledMetric)
	}

	ch.Start()
	s2 := launch(t, cfg)
	waitEvery(t, "the spool replayed", 3*time.Minute, 250*time.Millisecond, func() bool { return len(segments(t, spoolDir)) == 0 })
	rows := clickHouseSubs(t, cfg.chDSN, partner)

	// Every click spooled before the kill arrived.
	lost := 0
	for sub := range spooled {
		if rows[sub] == nil {
			if lost++; lost <= 10 {
				t.Errorf("spooled click sub=%s is not in ClickHouse after the replay", sub)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d spooled clicks lost", lost, len(spooled))
	}
	// ... and counts once.
	distinct := 0
	for _, r := range rows {
		distinct += len(r.ids)
	}
	total, _ := analyticsCounts(t, cfg.chDSN, partner, start, time.Now(), 1)
	if total != uint64(distinct) {
		t.Errorf("analytics counts %d clicks; ClickHouse holds %d distinct click ids", total, distinct)
	}

	// Clicks answered 302 before the kill that never arrived were in memory.
	_, ksubs := kafkaSubs(t, s2.brokers, partner)
	b := clickAtRiskBound(t, launchEnv(t, cfg))
	allowed := b.Window + killSlack
	var ok302, inWindow, inAllowed int
	var atRisk, atRiskKafka []clickResult
	for _, r := range results {
		if r.answered.Before(killAt) && (r.err != nil || r.status != 302) {
			t.Errorf("click sub=%d answered before the kill: status %d, %v", r.sub, r.status, r.err)
			continue
		}
		if r.err != nil || r.status != 302 {
			continue // in flight at the kill: never answered, so never promised
		}
		ok302++
		if age := killAt.Sub(r.answered); age <= b.Window {
			inWindow++
		} else if age <= allowed {
			inAllowed++
		}
		sub := strconv.Itoa(r.sub)
		if rows[sub] == nil {
			atRisk = append(atRisk, r)
		}
		if ksubs[sub] == nil {
			atRiskKafka = append(atRiskKafka, r)
		}
	}
	for _, lostIn := range []struct {
		sink string
		rs   []clickResult
	}{{"ClickHouse", atRisk}, {"Kafka", atRiskKafka}} {
		oldest := time.Duration(0)
		for _, r := range lostIn.rs {
			oldest = max(oldest, killAt.Sub(r.answered))
		}
		t.Logf("%s: %d clicks answered 302 never arrived (the oldest answered %v before the kill)", lostIn.sink, len(lostIn.rs), oldest.Round(time.Millisecond))
		if len(lostIn.rs) > b.Hard {
			t.Errorf("%s: %d clicks lost, over the hard bound %d", lostIn.sink, len(lostIn.rs), b.Hard)
		}
		if oldest > allowed {
			t.Errorf("%s: a click answered %v before the kill was lost; the bound is %v (+%v slack)", lostIn.sink, oldest, b.Window, killSlack)
		}
	}
	elapsed := killAt.Sub(start).Seconds()
	t.Logf("clicks answered 302 before the kill %d (%.0f/s); on the spool at the kill %d (metric %.0f, torn records %d); "+
		"ClickHouse distinct click ids after the replay %d, analytics total %d",
		ok302, float64(ok302)/elapsed, len(spooled), spooledMetric, torn, distinct, total)
	t.Logf("bound: clicks answered in the last %v (FlushInterval + onset %v): %d, and %d more in the %v slack; hard bound %d events",
		b.Window, b.Onset, inWindow, inAllowed, killSlack, b.Hard)
	quarantined, _ := os.ReadDir(filepath.Join(spoolDir, "quarantine"))
	t.Logf("replayed after restart %.0f, quarantined segments %d",
		s2.metric("refedge_spool_events_replayed_total", sinkLabels("clickhouse")), len(quarantined))
}

// segments lists the spool segment files in dir.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// readClickSpool reads every click on a sink's spool, in the framing spool.go documents
// (length, CRC-32C, payload), and returns them by sub. A segment ends at its first bad
// record, as replay treats it; torn counts such segments.
func readClickSpool(t *testing.T, dir string) (bySub map[string]string, torn int) {
	t.Helper()
	bySub = map[string]string{}
	crc := crc32.MakeTable(crc32.Castagnoli)
	for _, path := range segments(t, dir) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(f)
		for {
			var h [8]byte
			if _, err := io.ReadFull(r, h[:]); err != nil {
				if !errors.Is(err, io.EOF) {
					torn++
				}
				break
			}
			payload := make([]byte, be.BigEndian.Uint32(h[:4]))
			if _, err := io.ReadFull(r, payload); err != nil || crc32.Checksum(payload, crc) != be.BigEndian.Uint32(h[4:]) {
				torn++
				break
			}
			c, err := event.ClickCodec.Decode(payload)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !strings.HasPrefix(c.Path(), "/fault/") {
				t.Fatalf("%s: unexpected click %s", path, c.Path())
			}
			// SubID is a view of the pooled click's memory: copy it before the release.
			bySub[strings.Clone(c.SubID())] = string(c.ID[:])
			event.ReleaseClick(c)
		}
		f.Close()
	}
	return bySub, torn
}
