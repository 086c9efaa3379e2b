package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/spool"
)

// flakySink is a click sink that is down while down is set, and keeps what it got.
type flakySink struct {
	mu   sync.Mutex
	ids  []string
	down atomic.Bool
}

func (s *flakySink) Name() string { return "flaky" }

func (s *flakySink) Write(_ context.Context, cs []*event.Click) error {
	if s.down.Load() {
		return errors.New("connection refused")
	}
	s.mu.Lock()
	for _, c := range cs {
		s.ids = append(s.ids, string(c.ID[:]))
	}
	s.mu.Unlock()
	return nil
}

func (s *flakySink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func testClick(i int) *event.Click {
	c := event.AcquireClick()
	c.ID = event.NewClickID(time.Unix(1795262400+int64(i), 0))
	c.Time = time.Unix(1795262400+int64(i), 0).UTC()
	c.SetPartner([]byte("p1"))
	c.AddReason("ua:crawler")
	c.Verdict = event.Bot
	return c
}

func spooledPipeline(t *testing.T, dir string, sink Sink[*event.Click]) *Pipeline[*event.Click] {
	t.Helper()
	p, err := NewSpooled(Config{Name: "spooltest", BatchSize: 10, FlushInterval: 5 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond},
		spool.Config{Dir: dir, SegmentBytes: 4 << 10, SpoolAfter: 1}, event.ClickCodec, event.ReleaseClick, sink)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSpoolOutageAndRestart: with the sink down, events go to disk; a stop leaves them
// there; a new pipeline (the next process) replays them in order once the sink is back.
func TestSpoolOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	sink := &flakySink{}
	sink.down.Store(true)
	p := spooledPipeline(t, dir, sink)
	var want []string
	for i := 0; i < 200; i++ {
		c := testClick(i)
		want = append(want, string(c.ID[:]))
		if err := p.Enqueue(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop with the sink down and a spool must not fail: %v", err)
	}
	if n := len(sink.got()); n != 0 {
		t.Fatalf("a down sink received %d events", n)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "flaky", "*.seg"))
	if len(segs) < 2 {
		t.Fatalf("want several spool segments, got %v", segs)
	}

	sink.down.Store(false)
	p2 := spooledPipeline(t, dir, sink)
	waitUntil(t, "the spool to replay", func() bool { return len(sink.got()) >= len(want) })
	// New events go after the replayed ones.
	c := testClick(1000)
	want = append(want, string(c.ID[:]))
	_ = p2.Enqueue(c)
	if err := p2.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.got()
	if len(got) != len(want) {
		t.Fatalf("delivered %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d out of order: got %s want %s", i, got[i], want[i])
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "flaky", "*.seg")); len(segs) != 0 {
		t.Fatalf("segments left after replay: %v", segs)
	}
}

// TestSpoolCorruptSegment: a damaged segment delivers the records before the damage, is
// moved to quarantine, and the other segments replay.
func TestSpoolCorruptSegment(t *testing.T) {
	dir := t.TempDir()
	sink := &flakySink{}
	sink.down.Store(true)
	p := spooledPipeline(t, dir, sink)
	for i := 0; i < 100; i++ {
		_ = p.Enqueue(testClick(i))
	}
	_ = p.Stop(context.Background())
	segs, _ := filepath.Glob(filepath.Join(dir, "flaky", "*.seg"))
	if len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %d", len(segs))
	}
	// Flip a byte in the middle of the second segment.
	b, err := os.ReadFile(segs[1])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(segs[1], b, 0o640); err != nil {
		t.Fatal(err)
	}
	sink.down.Store(false)
	p2 := spooledPipeline(t, dir, sink)
	waitUntil(t, "replay past the corrupt segment", func() bool {
		left, _ := filepath.Glob(filepath.Join(dir, "flaky", "*.seg"))
		return len(left) == 0
	})
	_ = p2.Stop(context.Background())
	q, _ := filepath.Glob(filepath.Join(dir, "flaky", "quarantine", "*.seg"))
	if len(q) != 1 || filepath.Base(q[0]) != filepath.Base(segs[1]) {
		t.Fatalf("quarantine holds %v, want the damaged %s", q, filepath.Base(segs[1]))
	}
	got := len(sink.got())
	if got >= 100 || got < 100-len(b)/40 {
		t.Fatalf("delivered %d of 100 events: want all but the damaged segment's tail", got)
	}
	t.Logf("delivered %d of 100 events; the tail of one damaged segment was quarantined", got)
}

func TestSpoolCodecsRoundTrip(t *testing.T) {
	c := testClick(1)
	c.SetSubID([]byte(`sub "quoted" <tag>`))
	b := event.ClickCodec.Encode(nil, c)
	c2, err := event.ClickCodec.Decode(b)
	if err != nil || c2.ID != c.ID || c2.SubID() != c.SubID() || c2.Verdict != event.Bot || c2.Reason(0) != "ua:crawler" || !c2.Time.Equal(c.Time) {
		t.Fatalf("click round trip: %v %+v", err, c2)
	}
	im := event.AcquireImpression(time.Unix(1795262400, 0))
	im.SetPartner([]byte("p1"))
	im.SetSource(event.SourceBanner)
	im.SetSize([]byte("468x60"))
	im2, err := event.ImpressionCodec.Decode(event.ImpressionCodec.Encode(nil, im))
	if err != nil || im2.ID != im.ID || im2.Partner() != "p1" || im2.Size() != "468x60" || im2.Source() != event.SourceBanner {
		t.Fatalf("impression round trip: %v", err)
	}
	r := &event.Revocation{ClickID: string(c.ID[:]), PartnerID: "p1", ClickTime: c.Time, Time: c.Time.Add(time.Second), Verdict: event.Popunder, Reasons: []string{"beacon:opener"}}
	r2, err := event.RevocationCodec.Decode(event.RevocationCodec.Encode(nil, r))
	if err != nil || r2.ClickID != r.ClickID || r2.Verdict != event.Popunder || !r2.ClickTime.Equal(r.ClickTime) {
		t.Fatalf("revocation round trip: %v %+v", err, r2)
	}
	if _, err := event.ClickCodec.Decode([]byte(`{"id":1}`)); err == nil {
		t.Fatal("decoded garbage")
	}
}

func FuzzSpoolDecode(f *testing.F) {
	f.Add(event.ClickCodec.Encode(nil, testClick(1)))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := event.ClickCodec.Decode(b); err == nil {
			event.ReleaseClick(c)
		}
		_, _ = event.RevocationCodec.Decode(b)
		if im, err := event.ImpressionCodec.Decode(b); err == nil {
			event.ReleaseImpression(im)
		}
	})
}

// TestFullSpoolIsReported: once a sink's spool reaches MaxBytes, FullSpools names it
// (readiness turns the process away from traffic); after the sink returns and the spool
// drains, it no longer does, and every event arrives.
func TestFullSpoolIsReported(t *testing.T) {
	sink := &flakySink{}
	sink.down.Store(true)
	p, err := NewSpooled(Config{Name: "fulltest", BatchSize: 10, FlushInterval: 5 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: time.Millisecond},
		spool.Config{Dir: t.TempDir(), MaxBytes: 2 << 10, SegmentBytes: 1 << 10, SpoolAfter: 1}, event.ClickCodec, event.ReleaseClick, sink)
	if err != nil {
		t.Fatal(err)
	}
	if full := p.FullSpools(); len(full) != 0 {
		t.Fatalf("empty spool reported full: %v", full)
	}
	for i := 0; i < 100; i++ {
		if err := p.Enqueue(testClick(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the spool to fill", func() bool { f := p.FullSpools(); return len(f) == 1 && f[0] == "flaky" })
	sink.down.Store(false)
	waitUntil(t, "every event delivered", func() bool { return len(sink.got()) >= 100 })
	waitUntil(t, "the spool to drain", func() bool { return len(p.FullSpools()) == 0 })
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
