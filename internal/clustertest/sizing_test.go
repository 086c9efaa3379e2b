package clustertest

import (
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// TestSpoolRecordSize measures what one click costs in a disk spool (the figure behind
// docs/operations.md "Spool size"): the record header plus the click's envelope as the
// pipeline's codec writes it, for a valid click with a browser's fields filled as the
// tracker fills them.
func TestSpoolRecordSize(t *testing.T) {
	c := event.AcquireClick()
	defer event.ReleaseClick(c)
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	c.ID, c.Time, c.Verdict = event.NewClickID(now), now, event.Valid
	c.SetPartner([]byte("partner-12345"))
	c.SetSource([]byte("link"))
	c.SetCreative([]byte("spring-sale"))
	c.SetSubID([]byte("post-42"))
	c.SetVisitorID([]byte("Vq0oU8rO4YV3lJ2uH9kWfA"))
	c.SetVisitorHash([]byte("3b1f0c5a9e2d47c8a6b5"))
	c.SetRefererHost([]byte("blog.example.org"))
	c.SetPath([]byte("/categories/design/logo"))
	c.SetQuery([]byte("utm_source=blog&utm_medium=referral"))
	c.SetDevice("desktop")
	c.SetBrowser("chrome")
	c.SetUserAgent([]byte("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"))
	rec := len(event.ClickCodec.Encode(nil, c)) + 8 // 4-byte length, 4-byte CRC
	if rec < 300 || rec > 1024 {
		t.Errorf("a spooled click takes %d bytes; docs/operations.md sizes the spool at about 600", rec)
	}
	t.Logf("one click spooled: %d bytes; at 1,000 clicks/s a sink's spool grows %.1f MB per minute of outage", rec, float64(rec)*1000*60/1e6)
}
