package banners

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/visitor"
)

// Impressions are counted off the image path. The handler copies what the event needs
// out of the request into a pooled record (fasthttp reuses the request) and offers it
// to a bounded channel without blocking; a full channel drops the record and counts
// it, so a slow ClickHouse can never delay an image. One worker resolves the client
// address, deduplicates per visitor in process memory (dedup.go) and enqueues the
// attribution.Impression, which may wait on the pipeline's backpressure there.
//
// Visitor identity: the rfe_vid cookie when the browser sends it, otherwise the client
// address and User-Agent. The cookie is SameSite=Lax, so browsers omit it on the
// cross-site image loads of partners' pages; address and User-Agent are what remains.

const (
	maxXFF     = 256
	maxUA      = 512 // as the tracker: visitor hashes of clicks and impressions join
	maxReferer = 512
)

// impressionRec is a banner load copied out of its request.
type impressionRec struct {
	at      time.Time
	e       *entry
	size    int
	peer    netip.Addr
	partner []byte
	vid     []byte
	xff     []byte
	ua      []byte
	referer []byte
}

var recPool = sync.Pool{New: func() any {
	return &impressionRec{
		partner: make([]byte, 0, 64), vid: make([]byte, 0, 22),
		xff: make([]byte, 0, maxXFF), ua: make([]byte, 0, maxUA), referer: make([]byte, 0, maxReferer),
	}
}}

type impressions struct {
	cfg  *Config
	q    event.ImpressionQueue
	in   chan *impressionRec
	stop chan struct{}
	done chan struct{}
	dd   *dedup
	seed maphash.Seed
	hash []byte // worker scratch
	msg  []byte
}

func newImpressions(cfg *Config, q event.ImpressionQueue) *impressions {
	im := &impressions{
		cfg:  cfg,
		q:    q,
		in:   make(chan *impressionRec, cfg.ImpressionBuffer),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		dd:   newDedup(cfg.DedupWindow, cfg.DedupEntries),
		seed: maphash.MakeSeed(),
		hash: make([]byte, 0, 64),
		msg:  make([]byte, 0, 1024),
	}
	go im.run()
	return im
}

// take copies a banner load with a syntactically valid ref out of ctx and offers it
// to the worker. It never blocks and does not allocate.
func (im *impressions) take(ctx *fasthttp.RequestCtx, ref []byte, e *entry, si int) {
	if !refcookie.ValidPartnerID(ref) {
		return
	}
	r := recPool.Get().(*impressionRec)
	h := &ctx.Request.Header
	r.at = time.Now()
	r.e, r.size = e, si
	r.peer = netip.Addr{}
	if a, ok := ctx.RemoteAddr().(interface{ AddrPort() netip.AddrPort }); ok {
		r.peer = a.AddrPort().Addr()
	} else if ip := ctx.RemoteIP(); ip != nil {
		r.peer, _ = netip.AddrFromSlice(ip)
	}
	r.partner = append(r.partner[:0], ref...)
	r.vid = r.vid[:0]
	if v := h.Cookie(refcookie.VisitorName); visitor.ValidID(v) {
		r.vid = append(r.vid, v...)
	}
	r.xff = append(r.xff[:0], clip(h.Peek("X-Forwarded-For"), maxXFF)...)
	r.ua = append(r.ua[:0], clip(h.UserAgent(), maxUA)...)
	r.referer = append(r.referer[:0], clip(h.Referer(), maxReferer)...)
	select {
	case im.in <- r:
	default:
		impDropped.Inc()
		recPool.Put(r)
	}
}

func (im *impressions) run() {
	defer close(im.done)
	for {
		select {
		case r := <-im.in:
			im.record(r)
		case <-im.stop:
			for {
				select {
				case r := <-im.in:
					im.record(r)
				default:
					return
				}
			}
		}
	}
}

// close records every impression already taken and stops the worker.
func (im *impressions) close() {
	select {
	case <-im.stop:
	default:
		close(im.stop)
	}
	<-im.done
}

func (im *impressions) record(r *impressionRec) {
	defer recPool.Put(r)
	ip := visitor.ClientIP(r.peer.AsSlice(), r.xff, im.cfg.TrustedProxies)
	size := sizeNames[r.size]

	var h maphash.Hash
	h.SetSeed(im.seed)
	h.Write(r.partner)
	h.WriteByte(0)
	h.WriteString(r.e.c.ID)
	h.WriteByte(0)
	h.Write(size)
	h.WriteByte(0)
	if len(r.vid) > 0 {
		h.WriteString("v:")
		h.Write(r.vid)
	} else {
		im.msg = ip.AppendTo(im.msg[:0])
		h.Write(im.msg)
		h.WriteByte(0)
		h.Write(r.ua)
	}
	if im.dd.seen(h.Sum64(), r.at) {
		impDuplicate.Inc()
		return
	}

	ev := event.AcquireImpression(r.at)
	ev.SetPartner(r.partner)
	ev.SetSource(event.SourceBanner)
	ev.SetCreative(r.e.idB)
	ev.SetSize(size)
	ev.SetRenderID(r.e.versionB)
	ev.SetVisitorID(r.vid)
	if im.cfg.Keys != nil {
		im.hash, im.msg = visitor.AppendHash(im.hash[:0], im.msg, im.cfg.Keys, r.at, ip, r.ua)
		ev.SetVisitorHash(im.hash)
	}
	ev.SetRefererHost(visitor.RefererHost(r.referer))
	ev.SetDevice(visitor.Device(r.ua))
	net := im.cfg.Network.Lookup(ip)
	ev.SetCountry(net.Country)
	ev.ASN = net.ASN
	if err := im.q.Enqueue(ev); err != nil {
		// Only after the pipeline stopped: a load that raced the shutdown.
		impStopped.Inc()
		event.ReleaseImpression(ev)
		return
	}
	impQueued.Inc()
}

func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
