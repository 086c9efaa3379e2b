package tracker

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/visitor"
	"github.com/refedge/refedge/tracker/crawlers"
)

// NewClassifier builds the classification pipeline in the order it runs. Every step
// sees every click so the recorded reasons are complete; precedence picks the verdict.
func NewClassifier(q Quality, ua *crawlers.Matcher) *Classifier {
	q.defaults()
	if ua == nil {
		ua = crawlers.Default()
	}
	ads := adRules{
		params:    newLowerSet("ad:", q.AdParams),
		mediums:   newLowerSet("ad:utm_medium=", q.PaidMediums),
		referrers: newLowerSet("ad:referer=", q.AdReferrers),
	}
	cl := &Classifier{
		Pre: []Step{
			{"bot", botStep(ua)},
			{"fetch", stepFetchMetadata},
			{"auto_redirect", stepAutoRedirect},
			{"context_ad", ads.step},
		},
		Post: []Step{
			{"partner", stepPartner},
			{"self", stepSelf},
			{"rate", stepRate},
			{"duplicate", stepDuplicate},
		},
	}
	if q.Network.Active() {
		cl.Pre = slices.Insert(cl.Pre, 1, Step{"network", networkStep(q.Network)})
	}
	return cl
}

// networkStep looks the client address up, records its country and ASN on the click,
// and flags a data centre's network (a cloud, hosting or VPS provider, or a VPN's or
// proxy's hosting: the curated list and the operator's REFEDGE_GEO_* lists): people
// browse from homes, offices and phones, and the servers of those networks run the
// scripts and headless browsers that click for money. The verdict is datacenter (program
// rule 6 names such clicks), with the AS number as a second reason so partners and
// operators see which network it was.
func networkStep(svc *ipintel.Service) func(*Signals, *Decision) {
	return func(s *Signals, d *Decision) {
		in := svc.Lookup(s.IP)
		d.click.SetCountry(in.Country)
		d.click.ASN = in.ASN
		if !in.Datacenter {
			return
		}
		d.Flag(event.Datacenter, "net:datacenter")
		if in.ASN != 0 {
			var num [10]byte
			d.FlagBytes(event.Datacenter, "net:asn=", strconv.AppendUint(num[:0], uint64(in.ASN), 10))
		}
	}
}

// stepSelf refuses a partner's own device (program rule 2): the visitor id is one the
// partner used on their dashboard.
func stepSelf(s *Signals, d *Decision) {
	if s.State.OwnVisitor {
		d.Flag(event.SelfReferral, "self:partner-visitor")
	}
}

// botStep flags crawlers, link-preview fetchers, headless browsers, HTTP libraries and
// requests whose headers contradict the browser their User-Agent claims.
func botStep(m *crawlers.Matcher) func(*Signals, *Decision) {
	return func(s *Signals, d *Decision) {
		ua := s.UserAgent
		if len(bytes.TrimSpace(ua)) == 0 {
			d.Flag(event.Bot, "ua:empty")
			return
		}
		// The reason names the rule family: "ua:crawler" for named agents and generic
		// words, or a general rule's ("ua:monitor", "ua:payload", ...). In-app browsers
		// are people: the matcher does not refuse them (crawlers/inapp.go).
		if _, reason, ok := m.Verdict(ua); ok {
			d.Flag(event.Bot, reason)
		}
		if bytes.Contains(ua, []byte("HeadlessChrome")) || bytes.Contains(s.SecCHUA, []byte("HeadlessChrome")) {
			d.Flag(event.Bot, "ua:headless")
		}
		if s.Head {
			d.Flag(event.Bot, "http:head")
		}
		if !bytes.HasPrefix(ua, []byte("Mozilla/")) {
			return // not a browser claim; the list and heuristics above judged it
		}
		// A real browser navigation always sends Accept and Accept-Language.
		if len(s.Accept) == 0 {
			d.Flag(event.Bot, "hdr:no-accept")
		}
		if len(s.AcceptLanguage) == 0 {
			d.Flag(event.Bot, "hdr:no-accept-language")
		}
		fam := familyOf(ua)
		if s.TLS && fam.sendsFetchMetadata() && len(s.SecFetchMode) == 0 && fetchMetadataVersion(fam, ua) {
			// Chromium 76+ and Firefox 90+ send Sec-Fetch-* to every HTTPS request; older
			// versions never did, so their absence there is no contradiction.
			d.Flag(event.Bot, "hdr:no-fetch-metadata")
		}
		if s.TLS && fam == familyChromium && chromeMajor(ua) >= 90 && len(s.SecCHUA) == 0 &&
			!bytes.Contains(ua, []byte("; wv)")) {
			// Chromium 90+ sends Sec-CH-UA on every HTTPS request (WebViews may not).
			d.Flag(event.Bot, "hdr:no-client-hints")
		}
	}
}

// stepFetchMetadata applies Fetch Metadata (https://w3c.github.io/webappsec-fetch-metadata/):
// a referral link loaded as anything but a top-level document — an iframe, image,
// script, fetch, embed, object — is not a click, nor is a prefetch or prerender.
func stepFetchMetadata(s *Signals, d *Decision) {
	if dest := s.SecFetchDest; len(dest) > 0 && string(dest) != "document" {
		d.FlagBytes(event.HiddenFrame, "fetch:dest=", token(dest))
	}
	if isPrefetch(s.SecPurpose) || isPrefetch(s.Purpose) {
		d.Flag(event.HiddenFrame, "fetch:prefetch")
	}
	if mode := s.SecFetchMode; len(mode) > 0 && string(mode) != "navigate" {
		d.FlagBytes(event.HiddenFrame, "fetch:mode=", token(mode))
	}
}

func isPrefetch(v []byte) bool {
	return bytes.Contains(v, []byte("prefetch")) || bytes.Contains(v, []byte("prerender"))
}

// stepAutoRedirect: Chromium and Firefox send Sec-Fetch-User: ?1 only for navigations a
// user activated (a click, a typed URL). A top-level navigation without it from such a
// browser was started by script or a meta refresh. Safari never sends the header, so
// there its absence says nothing.
func stepAutoRedirect(s *Signals, d *Decision) {
	if len(s.SecFetchMode) == 0 || string(s.SecFetchMode) != "navigate" || !familyOf(s.UserAgent).sendsFetchMetadata() {
		return
	}
	if string(s.SecFetchUser) != "?1" {
		d.Flag(event.AutoRedirect, "fetch:no-user-activation")
	}
}

type adRules struct {
	params, mediums, referrers lowerSet
}

// step flags contextual-ad transitions (program rule 6): ad click ids in the query,
// paid utm_medium values, ad-network referrers. Organic markers (ysclid, srsltid,
// fbclid) are not in the lists and do not count.
func (a *adRules) step(s *Signals, d *Decision) {
	forEachParam(s.RawQuery, func(kv, key []byte) {
		if r, ok := a.params.lookup(key); ok {
			d.Flag(event.ContextAd, r)
			return
		}
		if len(key) == len("utm_medium") && bytes.EqualFold(key, []byte("utm_medium")) {
			if r, ok := a.mediums.lookup(kv[len(key)+min(1, len(kv)-len(key)):]); ok {
				d.Flag(event.ContextAd, r)
			}
		}
	})
	if host := visitor.RefererHost(s.Referer); len(host) > 0 {
		if r, ok := a.referrers.lookupHost(host); ok {
			d.Flag(event.ContextAd, r)
		}
	}
}

func stepRate(s *Signals, d *Decision) {
	if s.State.IPLimited {
		d.Flag(event.RateLimited, "rate:ip")
	}
	if s.State.VisitorLimited {
		d.Flag(event.RateLimited, "rate:visitor")
	}
	if s.State.PartnerLimited {
		d.Flag(event.RateLimited, "rate:partner")
	}
}

func stepDuplicate(s *Signals, d *Decision) {
	if s.State.Duplicate {
		d.Flag(event.Duplicate, "dup:visitor-partner")
	}
}

// token returns v when it is a short header token, else a fixed marker, so reasons stay
// low-cardinality and printable.
func token(v []byte) []byte {
	if len(v) > 24 {
		return []byte("other")
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return []byte("other")
		}
	}
	return v
}

type family uint8

const (
	familyOther family = iota
	familyChromium
	familyFirefox
	familySafari
)

// familyOf tells the engine family a browser User-Agent claims. iOS browsers are all
// WebKit whatever their name (CriOS, FxiOS, EdgiOS).
func familyOf(ua []byte) family {
	switch {
	case bytes.Contains(ua, []byte("iPhone")) || bytes.Contains(ua, []byte("iPad")) || bytes.Contains(ua, []byte("iPod")):
		return familySafari
	case bytes.Contains(ua, []byte("Firefox/")):
		return familyFirefox
	case bytes.Contains(ua, []byte("Chrome/")) || bytes.Contains(ua, []byte("Chromium/")):
		return familyChromium
	case bytes.Contains(ua, []byte("Safari/")):
		return familySafari
	}
	return familyOther
}

func (f family) sendsFetchMetadata() bool { return f == familyChromium || f == familyFirefox }

// fetchMetadataVersion reports whether the version ua claims within family f sends
// Fetch Metadata: Chromium from 76 (Sec-Fetch-Site/Mode/User; Dest from 80), Firefox
// from 90 (https://caniuse.com/mdn-http_headers_sec-fetch-mode). A version that cannot
// be read is given the benefit of the doubt.
func fetchMetadataVersion(f family, ua []byte) bool {
	switch f {
	case familyChromium:
		return chromeMajor(ua) >= 76
	case familyFirefox:
		return majorAfter(ua, []byte("Firefox/")) >= 90
	}
	return false
}

// chromeMajor returns the major version after "Chrome/", or 0.
func chromeMajor(ua []byte) int { return majorAfter(ua, []byte("Chrome/")) }

// majorAfter returns the decimal number right after the first token in ua, or 0.
func majorAfter(ua, token []byte) int {
	i := bytes.Index(ua, token)
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range ua[i+len(token):] {
		if c < '0' || c > '9' || n > 10000 {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
