package event

import (
	"sync"
	"time"
)

// Impression is one view of a partner's widget or banner. Acquire it with
// AcquireImpression, fill it with the Set* methods (which copy), hand it to a pipeline.
type Impression struct {
	ID   ClickID
	Time time.Time
	// ASN is the viewer's network's autonomous system number, 0 when unknown. The
	// viewer's address itself is never recorded.
	ASN uint32

	partner, source, creative, size, renderID   Str
	visitorID, visitorHash, refererHost, device Str
	country                                     Str
	a                                           arena
}

var impressionPool = sync.Pool{New: func() any { return &Impression{a: arena{b: make([]byte, 0, 256)}} }}

// AcquireImpression returns an empty impression from the pool, with a fresh id.
func AcquireImpression(now time.Time) *Impression {
	im := impressionPool.Get().(*Impression)
	im.ID = NewClickID(now)
	im.Time = now
	return im
}

// ReleaseImpression returns im to the pool.
func ReleaseImpression(im *Impression) {
	a := im.a
	a.reset()
	*im = Impression{a: a}
	impressionPool.Put(im)
}

// Impression sources.
const (
	SourceWidget = "widget"
	SourceBanner = "banner"
)

// Setters copy their argument into the impression.
func (im *Impression) SetPartner(b []byte)     { im.partner = im.a.put(b) }
func (im *Impression) SetSource(s string)      { im.source = im.a.puts(s) }
func (im *Impression) SetCreative(b []byte)    { im.creative = im.a.put(b) }
func (im *Impression) SetSize(b []byte)        { im.size = im.a.put(b) }
func (im *Impression) SetRenderID(b []byte)    { im.renderID = im.a.put(b) }
func (im *Impression) SetVisitorID(b []byte)   { im.visitorID = im.a.put(b) }
func (im *Impression) SetVisitorHash(b []byte) { im.visitorHash = im.a.put(b) }
func (im *Impression) SetRefererHost(b []byte) { im.refererHost = im.a.put(b) }
func (im *Impression) SetDevice(s string)      { im.device = im.a.puts(s) }
func (im *Impression) SetCountry(s string)     { im.country = im.a.puts(s) } // ISO 3166-1 alpha-2, "" unknown

// Getters alias the impression; copy to keep past release.
func (im *Impression) Partner() string     { return im.a.get(im.partner) }
func (im *Impression) Source() string      { return im.a.get(im.source) }
func (im *Impression) Creative() string    { return im.a.get(im.creative) }
func (im *Impression) Size() string        { return im.a.get(im.size) }
func (im *Impression) RenderID() string    { return im.a.get(im.renderID) }
func (im *Impression) VisitorID() string   { return im.a.get(im.visitorID) }
func (im *Impression) VisitorHash() string { return im.a.get(im.visitorHash) }
func (im *Impression) RefererHost() string { return im.a.get(im.refererHost) }
func (im *Impression) Device() string      { return im.a.get(im.device) }
func (im *Impression) Country() string     { return im.a.get(im.country) }

// ImpressionQueue takes finished impressions; a Pipeline[*Impression] implements it.
type ImpressionQueue interface {
	Enqueue(*Impression) error
}
