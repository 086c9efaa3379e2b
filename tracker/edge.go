package tracker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/visitor"
)

// Config configures the click edge. Zero durations take the documented defaults.
type Config struct {
	// Origin is the marketplace origin, "scheme://host[:port]": the only redirect target.
	Origin string
	// CookieDomain is the Domain of both cookies; empty means host-only cookies.
	CookieDomain string
	// Keys signs rfe_ref and visitor hashes.
	Keys *signing.Keyring
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// AttributionWindow is rfe_ref's lifetime; 0 means 30 days (program rule 2).
	AttributionWindow time.Duration
	// VisitorMaxAge is rfe_vid's lifetime; 0 means 400 days (the most browsers keep).
	VisitorMaxAge time.Duration
	// Quality configures the traffic-quality checks (lists, windows, limits).
	Quality Quality
}

// Validate reports what is missing.
func (c *Config) Validate() error {
	var errs []error
	if c.Origin == "" {
		errs = append(errs, errors.New("tracker: Origin is required"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("tracker: Keys is required"))
	}
	return errors.Join(errs...)
}

// ClickQueue takes finished clicks; attribution.Pipeline implements it.
type ClickQueue interface {
	Enqueue(*event.Click) error
}

// Edge handles referral clicks.
type Edge struct {
	cfg        Config
	state      StateStore
	queue      ClickQueue
	classifier *Classifier
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// NewEdge validates cfg and returns an edge.
func NewEdge(cfg Config, state StateStore, queue ClickQueue, cl *Classifier) (*Edge, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AttributionWindow <= 0 {
		cfg.AttributionWindow = 30 * 24 * time.Hour
	}
	if cfg.VisitorMaxAge <= 0 {
		cfg.VisitorMaxAge = 400 * 24 * time.Hour
	}
	if cl == nil {
		cl = NewClassifier(cfg.Quality, nil)
	}
	return &Edge{cfg: cfg, state: state, queue: queue, classifier: cl, Now: time.Now}, nil
}

// scratch is per-request working memory, pooled.
type scratch struct {
	sig  Signals
	dec  Decision
	q    StateQuery
	buf  []byte
	msg  []byte
	hash []byte
	vkey []byte
	vid  [22]byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024)} }}

const (
	maxSubLen = 64
	maxUALen  = 512
	maxLogLen = 1024
)

var (
	srcLink   = []byte("link")
	srcWidget = []byte("widget")
	srcBanner = []byte("banner")
)

// HandleClick records a referral click, sets the cookies its verdict allows and
// redirects to the clean marketplace URL. It never fails for the visitor: store
// outages degrade the verdict checks, never the redirect.
func (e *Edge) HandleClick(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	now := e.Now()
	c := event.AcquireClick()
	c.ID = event.NewClickID(now)
	c.Time = now

	args := ctx.QueryArgs()
	ref := args.Peek("ref")
	h := &ctx.Request.Header
	s := &sc.sig
	s.reset()
	s.Head = ctx.IsHead()
	s.UserAgent = h.UserAgent()
	s.Accept = h.Peek("Accept")
	s.AcceptLanguage = h.Peek("Accept-Language")
	s.Referer = h.Referer()
	s.SecFetchDest = h.Peek("Sec-Fetch-Dest")
	s.SecFetchMode = h.Peek("Sec-Fetch-Mode")
	s.SecFetchSite = h.Peek("Sec-Fetch-Site")
	s.SecFetchUser = h.Peek("Sec-Fetch-User")
	s.SecPurpose = h.Peek("Sec-Purpose")
	s.Purpose = h.Peek("Purpose")
	s.SecCHUA = h.Peek("Sec-CH-UA")
	s.RawQuery = ctx.URI().QueryString()
	s.IP = visitor.ClientIP(ctx.RemoteIP(), h.Peek("X-Forwarded-For"), e.cfg.TrustedProxies)
	// X-Forwarded-Proto, like X-Forwarded-For, is believed only from a trusted proxy.
	s.TLS = ctx.IsTLS() || (bytes.Equal(h.Peek("X-Forwarded-Proto"), []byte("https")) &&
		visitor.PeerTrusted(ctx.RemoteIP(), e.cfg.TrustedProxies))
	s.PartnerValid = refcookie.ValidPartnerID(ref)

	// Visitor: keep a well-formed rfe_vid, otherwise issue one. A returning browser is
	// keyed by its id; a new one (or one refusing cookies) by the daily IP+UA hash.
	vid := h.Cookie(refcookie.VisitorName)
	hadVid := visitor.ValidID(vid)
	if !hadVid {
		newVisitorID(&sc.vid)
		vid = sc.vid[:]
		e.setCookie(ctx, refcookie.VisitorName, vid, e.cfg.VisitorMaxAge, true)
	}
	sc.hash, sc.msg = visitor.AppendHash(sc.hash[:0], sc.msg, e.cfg.Keys, now, s.IP, s.UserAgent)
	if hadVid {
		sc.vkey = append(append(sc.vkey[:0], "v:"...), vid...)
	} else {
		sc.vkey = append(append(sc.vkey[:0], "h:"...), sc.hash...)
	}

	// The request alone first; then the shared state, with windows and limits only for
	// a click still valid (a bot's click must not open a duplicate window either).
	pre := e.classifier.Start(s, c, &sc.dec)
	if s.PartnerValid {
		sc.q = StateQuery{Partner: ref, Visitor: sc.vkey, IP: s.IP, Now: now, Windows: pre == event.Valid}
		if err := e.state.Lookup(context.Background(), &sc.q, &s.State); err != nil {
			s.State.Degraded = true
			stateErrors.Inc()
		}
	}
	verdict := e.classifier.Finish(s, &sc.dec)
	clicksTotal[verdict].Inc()

	// Fill the event: every field is copied out of the request now (fasthttp reuses it).
	c.SetPartner(truncate(ref, 64))
	src := args.Peek("src")
	switch {
	case bytes.Equal(src, srcWidget), bytes.Equal(src, srcBanner), LinkSource(src):
		c.SetSource(src)
	default:
		c.SetSource(srcLink)
	}
	if cr := args.Peek("cr"); refcookie.ValidPartnerID(cr) {
		c.SetCreative(cr)
	}
	c.SetSubID(printable(truncate(args.Peek("sub"), maxSubLen)))
	c.SetRefererHost(visitor.RefererHost(s.Referer))
	c.SetPath(printable(truncate(ctx.URI().PathOriginal(), maxLogLen)))
	c.SetDevice(visitor.Device(s.UserAgent))
	c.SetBrowser(browserOf(s.UserAgent))
	c.SetUserAgent(printable(truncate(s.UserAgent, maxUALen)))
	c.SetVisitorID(vid)
	c.SetVisitorHash(sc.hash)

	if verdict == event.Valid {
		sc.buf = refcookie.Append(sc.buf[:0], e.cfg.Keys, ref, c.ID[:], now, []byte(c.Source()))
		e.setCookie(ctx, refcookie.Name, sc.buf, e.cfg.AttributionWindow, true)
		// The beacon token: readable by the landing page's /v.js (not HttpOnly), short-lived.
		sc.buf, sc.msg = e.appendCheckToken(sc.buf[:0], sc.msg, c.ID[:], ref, now)
		e.setCookie(ctx, CheckCookie, sc.buf, checkTTL, false)
	}

	sc.buf = appendLocation(sc.buf[:0], e.cfg.Origin, ctx.URI().PathOriginal(), s.RawQuery)
	c.SetQuery(queryOf(sc.buf))
	redirect(ctx, sc.buf)

	if err := e.queue.Enqueue(c); err != nil {
		// Only after Stop: the server has stopped accepting, so this is a request
		// that raced the shutdown. Count it; the visitor still gets the redirect.
		enqueueErrors.Inc()
		event.ReleaseClick(c)
	}
}

// HandlePassThrough redirects a request without ref to the origin unchanged.
func (e *Edge) HandlePassThrough(ctx *fasthttp.RequestCtx) {
	sc := scratchPool.Get().(*scratch)
	sc.buf = appendLocation(sc.buf[:0], e.cfg.Origin, ctx.URI().PathOriginal(), ctx.URI().QueryString())
	redirect(ctx, sc.buf)
	scratchPool.Put(sc)
}

func redirect(ctx *fasthttp.RequestCtx, location []byte) {
	ctx.Response.Header.SetBytesV("Location", location)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.Response.Header.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	ctx.SetStatusCode(fasthttp.StatusFound)
}

func (e *Edge) setCookie(ctx *fasthttp.RequestCtx, name string, value []byte, maxAge time.Duration, httpOnly bool) {
	ck := fasthttp.AcquireCookie()
	ck.SetKey(name)
	ck.SetValueBytes(value)
	ck.SetPath("/")
	if e.cfg.CookieDomain != "" {
		ck.SetDomain(e.cfg.CookieDomain)
	}
	if maxAge > 0 {
		ck.SetMaxAge(int(maxAge / time.Second))
	} else {
		ck.SetExpire(fasthttp.CookieExpireDelete)
	}
	ck.SetSecure(true)
	ck.SetHTTPOnly(httpOnly)
	// Lax: a cross-site iframe or image load cannot plant the cookie (RFC 6265bis 5.2).
	ck.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	ctx.Response.Header.SetCookie(ck)
	fasthttp.ReleaseCookie(ck)
}

func newVisitorID(dst *[22]byte) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	base64.RawURLEncoding.Encode(dst[:], b[:])
}

// queryOf returns the query part of a Location built by appendLocation.
func queryOf(loc []byte) []byte {
	if i := bytes.IndexByte(loc, '?'); i >= 0 {
		return truncate(loc[i+1:], maxLogLen)
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// printable returns b when every byte is printable ASCII, else nil: stored strings stay
// valid, log-safe text.
func printable(b []byte) []byte {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return nil
		}
	}
	return b
}
