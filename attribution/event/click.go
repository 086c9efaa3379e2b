package event

import (
	"encoding/hex"
	"sync"
	"time"
)

// ClickID is a click's id: a UUIDv7 in canonical text form (time-ordered, unique).
type ClickID [36]byte

// Click is one referral click as recorded. Acquire it with AcquireClick, fill it with the
// Set* methods (which copy), hand it to a pipeline; the pipeline releases it.
type Click struct {
	ID      ClickID
	Time    time.Time
	Verdict Verdict

	partner, source, creative, subID        Str
	visitorID, visitorHash, refererHost     Str
	path, device, browser, userAgent, query Str
	reasons                                 []Str
	a                                       arena
}

// clickArenaBytes is a new click's arena capacity: the edge's clicks carry 200-300 bytes
// of fields (user agent, path, query, ids), and a queued click holds its arena, so a
// generous size multiplies into the queue's memory. Longer clicks grow theirs.
const clickArenaBytes = 384

var clickPool = sync.Pool{New: func() any { return &Click{a: arena{b: make([]byte, 0, clickArenaBytes)}} }}

// AcquireClick returns an empty click from the pool.
func AcquireClick() *Click { return clickPool.Get().(*Click) }

// ReleaseClick returns c to the pool; c must not be used afterwards.
func ReleaseClick(c *Click) {
	c.reset()
	clickPool.Put(c)
}

func (c *Click) reset() {
	reasons := c.reasons[:0]
	a := c.a
	a.reset()
	*c = Click{reasons: reasons, a: a}
}

// Setters copy their argument into the click.
func (c *Click) SetPartner(b []byte)     { c.partner = c.a.put(b) }
func (c *Click) SetSource(b []byte)      { c.source = c.a.put(b) }
func (c *Click) SetCreative(b []byte)    { c.creative = c.a.put(b) }
func (c *Click) SetSubID(b []byte)       { c.subID = c.a.put(b) }
func (c *Click) SetVisitorID(b []byte)   { c.visitorID = c.a.put(b) }
func (c *Click) SetVisitorHash(b []byte) { c.visitorHash = c.a.put(b) }
func (c *Click) SetRefererHost(b []byte) { c.refererHost = c.a.put(b) }
func (c *Click) SetPath(b []byte)        { c.path = c.a.put(b) }
func (c *Click) SetQuery(b []byte)       { c.query = c.a.put(b) }
func (c *Click) SetDevice(s string)      { c.device = c.a.puts(s) }
func (c *Click) SetBrowser(s string)     { c.browser = c.a.puts(s) }
func (c *Click) SetUserAgent(b []byte)   { c.userAgent = c.a.put(b) }

// AddReason appends a reason code (e.g. "ua:crawler", "ad:gclid").
func (c *Click) AddReason(r string) { c.reasons = append(c.reasons, c.a.puts(r)) }

// AddReasonBytes appends a reason code built from a prefix and request bytes.
func (c *Click) AddReasonBytes(prefix string, b []byte) {
	s := Str{uint32(len(c.a.b)), uint32(len(prefix) + len(b))}
	c.a.b = append(c.a.b, prefix...)
	c.a.b = append(c.a.b, b...)
	c.reasons = append(c.reasons, s)
}

// Getters return strings that alias the click; copy them to keep them past release.
func (c *Click) Partner() string     { return c.a.get(c.partner) }
func (c *Click) Source() string      { return c.a.get(c.source) }
func (c *Click) Creative() string    { return c.a.get(c.creative) }
func (c *Click) SubID() string       { return c.a.get(c.subID) }
func (c *Click) VisitorID() string   { return c.a.get(c.visitorID) }
func (c *Click) VisitorHash() string { return c.a.get(c.visitorHash) }
func (c *Click) RefererHost() string { return c.a.get(c.refererHost) }
func (c *Click) Path() string        { return c.a.get(c.path) }
func (c *Click) Query() string       { return c.a.get(c.query) }
func (c *Click) Device() string      { return c.a.get(c.device) }
func (c *Click) Browser() string     { return c.a.get(c.browser) }
func (c *Click) UserAgent() string   { return c.a.get(c.userAgent) }

// NumReasons returns how many reasons the click carries.
func (c *Click) NumReasons() int { return len(c.reasons) }

// Reason returns the i-th reason code.
func (c *Click) Reason(i int) string { return c.a.get(c.reasons[i]) }

// Reasons returns a fresh slice of the reason codes.
func (c *Click) Reasons() []string {
	out := make([]string, len(c.reasons))
	for i := range c.reasons {
		out[i] = c.Reason(i)
	}
	return out
}

// HasReason reports whether the click carries reason r.
func (c *Click) HasReason(r string) bool {
	for i := range c.reasons {
		if c.Reason(i) == r {
			return true
		}
	}
	return false
}

// NewClickID returns a fresh UUIDv7 in text form.
func NewClickID(now time.Time) ClickID {
	u := newUUIDv7(now)
	var id ClickID
	encodeUUID(id[:], u)
	return id
}

func encodeUUID(dst []byte, u [16]byte) {
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}
