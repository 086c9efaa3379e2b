package widget

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/signing"
	"github.com/refedge/refedge/internal/visitor"
)

// A view token is the body of a view beacon:
//
//	<render id>.<unix seconds>.<base64url embedding host>.<signature>
//
// signed over "wv1.<widget id>.<render id>.<unix>.<host>", so it is good for one render
// of one widget only, for ViewWindow; Redis SET NX on the render id makes it count once.

const (
	renderIDLen  = 22
	maxTokenLen  = 512
	maxHostBytes = 253
	viewPrefix   = "wv1."
)

func appendViewMsg(dst []byte, widget string, render []byte, unix int64, host64 []byte) []byte {
	dst = append(dst, viewPrefix...)
	dst = append(dst, widget...)
	dst = append(dst, '.')
	dst = append(dst, render...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, unix, 10)
	dst = append(dst, '.')
	return append(dst, host64...)
}

// appendViewToken appends a signed view token to dst. host is the embedding page's
// host; one longer than a host name can be is dropped. It does not allocate when dst
// has room.
func appendViewToken(dst []byte, kr *signing.Keyring, widget string, render []byte, unix int64, host []byte) []byte {
	if len(host) > maxHostBytes {
		host = nil
	}
	start := len(dst)
	dst = append(dst, render...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, unix, 10)
	dst = append(dst, '.')
	h64 := len(dst)
	dst = base64.RawURLEncoding.AppendEncode(dst, host)
	// The signed message is built past the token, signed, then cut off again.
	mark := len(dst)
	dst = appendViewMsg(dst, widget, dst[start:start+len(render)], unix, dst[h64:mark])
	var sig [signing.SigLen]byte
	signed := kr.AppendSign(sig[:0], dst[mark:])
	dst = append(dst[:mark], '.')
	return append(dst, signed...)
}

// viewToken is a verified token.
type viewToken struct {
	render string
	at     time.Time
	host   string
}

var errBadToken = errors.New("malformed or forged view token")

// parseViewToken verifies tok for widget.
func parseViewToken(kr *signing.Keyring, widget string, tok []byte) (viewToken, error) {
	var vt viewToken
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return vt, errBadToken
	}
	parts := bytes.Split(tok, []byte("."))
	if len(parts) != 4 || len(parts[0]) != renderIDLen || !base64URL(parts[0]) || !base64URL(parts[2]) {
		return vt, errBadToken
	}
	unix, err := strconv.ParseInt(string(parts[1]), 10, 64)
	if err != nil || unix <= 0 || strconv.FormatInt(unix, 10) != string(parts[1]) {
		return vt, errBadToken
	}
	host, err := base64.RawURLEncoding.DecodeString(string(parts[2]))
	if err != nil || len(host) > maxHostBytes {
		return vt, errBadToken
	}
	var buf [512]byte
	msg := appendViewMsg(buf[:0], widget, parts[0], unix, parts[2])
	if !kr.Verify(msg, parts[3]) {
		return vt, errBadToken
	}
	return viewToken{render: string(parts[0]), at: time.Unix(unix, 0), host: string(host)}, nil
}

func base64URL(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func viewKey(render string) string { return "rfe:wv:{" + render + "}" }

// serveView records a viewable impression: POST /w/{id}/view with a view token. Only
// the first valid beacon of a render counts; the answer is 204 either way (a beacon
// has no reader), 400 for a bad token, 404 for an unknown widget.
func (s *Service) serveView(ctx *fasthttp.RequestCtx, id string) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	now := s.Now()
	vt, err := parseViewToken(s.cfg.Keys, id, bytes.TrimSpace(ctx.PostBody()))
	if err == nil && (now.Sub(vt.at) > s.cfg.ViewWindow || vt.at.Sub(now) > time.Minute) {
		err = errors.New("view token expired")
	}
	if err != nil {
		viewInvalid.Inc()
		ctx.SetStatusCode(fasthttp.StatusBadRequest)
		return
	}
	r, err := s.resolve(bg, id)
	if err != nil {
		viewError.Inc()
		s.cfg.Log.Warn("widget view: cannot read widget", "widget", id, "err", err)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return
	}
	if !r.found {
		viewInvalid.Inc()
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		return
	}
	first, err := s.cfg.Redis.SetNX(bg, viewKey(vt.render), 1, s.cfg.ViewWindow+2*time.Minute).Result()
	if err != nil {
		// Fail closed for counting: an impression that cannot be de-duplicated is not
		// recorded (it would otherwise count on every retry).
		viewError.Inc()
		s.cfg.Log.Warn("widget view: cannot de-duplicate", "widget", id, "err", err)
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	if !first {
		viewDuplicate.Inc()
		return
	}
	im := event.AcquireImpression(now)
	im.SetPartner([]byte(r.w.PartnerID))
	im.SetSource(event.SourceWidget)
	im.SetCreative([]byte(r.w.ID))
	im.SetSize([]byte(r.w.Size))
	im.SetRenderID([]byte(vt.render))
	im.SetRefererHost([]byte(vt.host))
	ua := ctx.Request.Header.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	// The same keyed daily hash as the tracker's, so a view joins the viewer's click.
	ip := visitor.ClientIP(ctx.RemoteIP(), ctx.Request.Header.Peek("X-Forwarded-For"), s.cfg.TrustedProxies)
	var hb [32]byte
	var scratch [640]byte
	hash, _ := visitor.AppendHash(hb[:0], scratch[:0], s.cfg.Keys, now, ip, ua)
	im.SetVisitorHash(hash)
	im.SetDevice(visitor.Device(ua))
	net := s.cfg.Network.Lookup(ip)
	im.SetCountry(net.Country)
	im.ASN = net.ASN
	if err := s.cfg.Impressions.Enqueue(im); err != nil {
		viewError.Inc()
		event.ReleaseImpression(im)
		return
	}
	viewRecorded.Inc()
}
