package tracker

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/refcookie"
)

// The verification beacon sees what headers cannot: whether the landing page is the top
// window, how big it is, whether it has focus, and whether a script opened it. Safari
// sends no Fetch Metadata, and a pop-under's navigation looks like any other, so these
// are the only evidence for them.
//
// Flow: a valid click also sets rfe_chk, a short-lived cookie scripts can read, holding
// the click id signed for this purpose. The marketplace page loads /v.js, which reads
// rfe_chk and posts what it sees to /v. /v verifies the token (so a beacon cannot speak
// for another click), and when the page was framed, tiny or opened as a pop-under it
// revokes the click: a click.revoked event, a Redis mark the ledger checks before
// attributing, and an expired rfe_ref in the response. rfe_chk is cleared either way.

// CheckCookie is the script-readable cookie carrying the beacon token.
const CheckCookie = "rfe_chk"

const checkTTL = 10 * time.Minute

// appendCheckToken appends "<click id>.<partner>.<unix>.<sig>" to dst. The signed
// message is "chk|" and the fields, so a beacon token can never pass for an rfe_ref
// (whose message starts "v1."). scratch is working memory, returned for reuse.
func (e *Edge) appendCheckToken(dst, scratch, clickID, partner []byte, t time.Time) ([]byte, []byte) {
	start := len(dst)
	dst = append(dst, clickID...)
	dst = append(dst, '.')
	dst = append(dst, partner...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, t.Unix(), 10)
	scratch = append(append(scratch[:0], "chk|"...), dst[start:]...)
	dst = append(dst, '.')
	return e.cfg.Keys.AppendSign(dst, scratch), scratch
}

type checkToken struct {
	clickID, partner string
	at               time.Time
}

func (e *Edge) parseCheckToken(v []byte, now time.Time) (checkToken, bool) {
	var t checkToken
	if len(v) > 200 {
		return t, false
	}
	i := bytes.LastIndexByte(v, '.')
	if i < 0 {
		return t, false
	}
	body, sig := v[:i], v[i+1:]
	parts := bytes.Split(body, []byte("."))
	if len(parts) != 3 || len(parts[0]) != len(event.ClickID{}) || !refcookie.ValidPartnerID(parts[1]) {
		return t, false
	}
	sec, err := strconv.ParseInt(string(parts[2]), 10, 64)
	if err != nil {
		return t, false
	}
	if !e.cfg.Keys.Verify(append([]byte("chk|"), body...), sig) {
		return t, false
	}
	t = checkToken{clickID: string(parts[0]), partner: string(parts[1]), at: time.Unix(sec, 0).UTC()}
	// A token older than its cookie's lifetime is stale: the beacon is for the landing.
	if now.Sub(t.at) > checkTTL || t.at.Sub(now) > time.Minute {
		return t, false
	}
	return t, true
}

// BeaconConfig wires the beacon's effects.
type BeaconConfig struct {
	// Revocations receives click.revoked events (ClickHouse and Kafka).
	Revocations interface {
		Enqueue(*event.Revocation) error
	}
	// Redis keeps revoked click ids for the ledger (refcookie.RevokedKey); may be nil.
	Redis redis.UniversalClient
}

// report is what /v.js posts.
type report struct {
	Token   string `json:"t"`
	Top     bool   `json:"top"`
	Width   int    `json:"w"`
	Height  int    `json:"h"`
	Visible string `json:"vis"`
	Focus   bool   `json:"focus"`
	Opener  bool   `json:"opener"`
}

// MinViewport is the smallest landing viewport taken for a real visit, in CSS pixels.
const MinViewport = 100

// judge returns the verdict and reasons a beacon report implies, or Valid.
func judge(r *report) (event.Verdict, []string) {
	var reasons []string
	v := event.Valid
	flag := func(nv event.Verdict, reason string) {
		reasons = append(reasons, reason)
		if rank[nv] < rank[v] {
			v = nv
		}
	}
	if !r.Top {
		flag(event.HiddenFrame, "beacon:framed")
	}
	if r.Width < MinViewport || r.Height < MinViewport {
		flag(event.HiddenFrame, "beacon:tiny")
	}
	if r.Opener {
		// Opened by window.open: a pop-up or pop-under (program rule 6). Links opened by
		// the user in a new tab have no opener (noopener is the default for _blank).
		flag(event.Popunder, "beacon:opener")
		if !r.Focus {
			flag(event.Popunder, "beacon:behind")
		}
	}
	if r.Visible == "hidden" && v != event.Valid {
		reasons = append(reasons, "beacon:hidden")
	}
	return v, reasons
}

// HandleBeacon serves GET /v.js and POST /v.
func (e *Edge) HandleBeacon(bc BeaconConfig) fasthttp.RequestHandler {
	origin := []byte(e.cfg.Origin)
	return func(ctx *fasthttp.RequestCtx) {
		switch {
		case string(ctx.Path()) == "/v.js" && (ctx.IsGet() || ctx.IsHead()):
			ctx.SetContentType("text/javascript; charset=utf-8")
			ctx.Response.Header.Set("Cache-Control", "public, max-age=3600")
			ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
			ctx.SetBodyString(beaconJS)
		case string(ctx.Path()) == "/v" && ctx.IsOptions():
			e.beaconCORS(ctx, origin)
			ctx.SetStatusCode(fasthttp.StatusNoContent)
		case string(ctx.Path()) == "/v" && ctx.IsPost():
			e.beaconCORS(ctx, origin)
			e.handleReport(ctx, bc)
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}
}

// beaconCORS lets the marketplace page (the configured origin only) post with cookies.
func (e *Edge) beaconCORS(ctx *fasthttp.RequestCtx, origin []byte) {
	if bytes.Equal(ctx.Request.Header.Peek("Origin"), origin) {
		ctx.Response.Header.SetBytesV("Access-Control-Allow-Origin", origin)
		ctx.Response.Header.Set("Access-Control-Allow-Credentials", "true")
		ctx.Response.Header.Set("Access-Control-Allow-Methods", "POST")
		ctx.Response.Header.Set("Vary", "Origin")
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
}

func (e *Edge) handleReport(ctx *fasthttp.RequestCtx, bc BeaconConfig) {
	body := ctx.PostBody()
	if len(body) > 1024 {
		ctx.Error("report too large", fasthttp.StatusRequestEntityTooLarge)
		return
	}
	var r report
	if err := json.Unmarshal(body, &r); err != nil {
		beaconReports.WithLabelValues("malformed").Inc()
		ctx.Error("malformed report", fasthttp.StatusBadRequest)
		return
	}
	now := e.Now()
	tok, ok := e.parseCheckToken([]byte(r.Token), now)
	// The token has done its job whatever happens next.
	e.setCookie(ctx, CheckCookie, nil, -time.Second, false)
	if !ok {
		beaconReports.WithLabelValues("bad_token").Inc()
		ctx.Error("invalid or expired token", fasthttp.StatusBadRequest)
		return
	}
	verdict, reasons := judge(&r)
	if verdict == event.Valid {
		beaconReports.WithLabelValues("confirmed").Inc()
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	beaconReports.WithLabelValues("revoked").Inc()
	if bc.Redis != nil {
		// The ledger refuses attribution for a revoked click even if the browser kept
		// the cookie. Best effort: the event below is the durable record.
		_ = bc.Redis.Set(context.Background(), refcookie.RevokedKey(tok.clickID), verdict.String(), 400*24*time.Hour).Err()
	}
	if bc.Revocations != nil {
		_ = bc.Revocations.Enqueue(&event.Revocation{ClickID: tok.clickID, PartnerID: tok.partner,
			ClickTime: tok.at, Time: now, Verdict: verdict, Reasons: reasons})
	}
	// Withdraw the attribution cookie when it is this click's.
	if ref, err := refcookie.Decode(ctx.Request.Header.Cookie(refcookie.Name), e.cfg.Keys); err == nil && string(ref.ClickID) == tok.clickID {
		e.setCookie(ctx, refcookie.Name, nil, -time.Second, true)
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// beaconJS runs on the marketplace page. It does nothing unless rfe_chk is present
// (the page was reached through a referral redirect), and reports once.
const beaconJS = `(function(){try{
var m=document.cookie.match(/(?:^|; )rfe_chk=([^;]+)/);if(!m)return;
var s=document.currentScript&&document.currentScript.src;if(!s)return;
var top=true;try{top=window.top===window.self}catch(e){top=false}
var r={t:decodeURIComponent(m[1]),top:top,w:window.innerWidth|0,h:window.innerHeight|0,
vis:document.visibilityState,focus:document.hasFocus(),opener:!!window.opener};
fetch(new URL("/v",s).href,{method:"POST",credentials:"include",keepalive:true,
headers:{"Content-Type":"text/plain"},body:JSON.stringify(r)}).catch(function(){});
}catch(e){}})();`
