package ingest

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
)

func TestGeneratorFill(t *testing.T) {
	g := NewGenerator(1)
	verdicts := map[event.Verdict]int{}
	partners := map[string]bool{}
	const n = 20000
	for range n {
		c := event.AcquireClick()
		g.Fill(c, time.Unix(1795262400, 0))
		if c.Partner() == "" || c.UserAgent() == "" || c.Device() == "" || c.Browser() == "" || c.Path() == "" ||
			len(c.VisitorID()) != 22 || len(c.VisitorHash()) != 22 || c.Source() == "" {
			t.Fatalf("incomplete click: %q %q %q %q %q %q", c.Partner(), c.UserAgent(), c.Device(), c.Path(), c.VisitorID(), c.Source())
		}
		if (c.Verdict == event.Valid) != (c.NumReasons() == 0) {
			t.Fatalf("verdict %s with reasons %q", c.Verdict, c.Reasons())
		}
		verdicts[c.Verdict]++
		partners[c.Partner()] = true
		event.ReleaseClick(c)
	}
	if v := verdicts[event.Valid]; v < n*55/100 || v > n*65/100 {
		t.Errorf("%d valid of %d, want about 60%%", v, n)
	}
	if len(partners) < 900 || len(verdicts) < 6 {
		t.Errorf("%d partners, %d verdicts: not spread enough", len(partners), len(verdicts))
	}
}

func TestProcReads(t *testing.T) {
	r, err := rss("self")
	if err != nil || r < 1<<20 {
		t.Fatalf("rss = %d, %v", r, err)
	}
	if _, err := procCPU("self"); err != nil {
		t.Fatal(err)
	}
}

// countSink counts what it is given.
type countSink struct{ n atomic.Int64 }

func (s *countSink) Name() string { return "count" }
func (s *countSink) Write(_ context.Context, b []*event.Click) error {
	s.n.Add(int64(len(b)))
	return nil
}

// TestRun measures a real pipeline whose sink counts, and checks the report adds up.
func TestRun(t *testing.T) {
	sink := &countSink{}
	p := pipeline.New(pipeline.Config{Name: "ingest-test", BatchSize: 1000, FlushInterval: 10 * time.Millisecond},
		event.ReleaseClick, sink)
	var out bytes.Buffer
	marked := false
	res, err := Run(t.Context(), Config{
		Duration: 300 * time.Millisecond, Producers: 2, Mark: 1000, Sample: 100 * time.Millisecond,
		Enqueue: p.Enqueue, Pending: p.Len, Stop: p.Stop,
		Counters: []Counter{{Name: "sink", Count: func(context.Context) (int64, error) { return sink.n.Load(), nil }}},
		Watch:    []Process{{Name: "self", PID: "self"}},
		AtMark:   func() { marked = true },
		Out:      &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Enqueued < 1000 || !marked || res.MarkRSS <= 0 || res.PeakRSS <= 0 {
		t.Fatalf("enqueued %d, marked %v, RSS at mark %d, peak %d", res.Enqueued, marked, res.MarkRSS, res.PeakRSS)
	}
	if s := res.Sinks[0]; s.Final != res.Enqueued || s.Err != nil || s.Rate() <= 0 {
		t.Fatalf("sink counted %d of %d (%v), rate %.0f", s.Final, res.Enqueued, s.Err, s.Rate())
	}
	res.Report(&out, "test")
	if !strings.Contains(out.String(), "RESULT label=test ") || !strings.Contains(out.String(), "sink_missing=0") {
		t.Fatalf("report:\n%s", out.String())
	}
}
