package tracker

import (
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/refcookie"
)

type revQueue struct {
	mu   sync.Mutex
	revs []*event.Revocation
}

func (q *revQueue) Enqueue(r *event.Revocation) error {
	q.mu.Lock()
	q.revs = append(q.revs, r)
	q.mu.Unlock()
	return nil
}

// landing clicks a referral link and returns the cookies a browser would now hold.
func landing(t *testing.T, e *Edge) (ref, chk string) {
	t.Helper()
	resp := do(e, "http://r.example/k?ref=12345")
	ref, chk = cookie(resp, refcookie.Name), cookie(resp, CheckCookie)
	if ref == "" || chk == "" {
		t.Fatalf("valid click set rfe_ref %q, rfe_chk %q", ref, chk)
	}
	if strings.Contains(string(resp.Header.Peek("Set-Cookie")), "rfe_chk=") {
		for _, line := range strings.Split(resp.String(), "\r\n") {
			if strings.Contains(line, "rfe_chk=") && strings.Contains(line, "HttpOnly") {
				t.Fatalf("rfe_chk must be readable by the page's script: %s", line)
			}
		}
	}
	return ref, chk
}

func post(e *Edge, bc BeaconConfig, body, cookies string) *fasthttp.Response {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI("http://r.example/v")
	req.Header.SetMethod("POST")
	req.Header.Set("Origin", testOrigin)
	req.Header.Set("Cookie", cookies)
	req.SetBodyString(body)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9)}, nil)
	e.HandleBeacon(bc)(&ctx)
	resp := &fasthttp.Response{}
	ctx.Response.CopyTo(resp)
	return resp
}

func reportJSON(tok string, r report) string {
	r.Token = tok
	b, _ := json.Marshal(r)
	return string(b)
}

func TestBeacon(t *testing.T) {
	honest := report{Top: true, Width: 1280, Height: 800, Visible: "visible", Focus: true}
	f := func(name string, r report, want event.Verdict, reasons ...string) {
		t.Helper()
		e := newTestEdge(t, memState(), &memQueue{})
		rq := &revQueue{}
		ref, chk := landing(t, e)
		resp := post(e, BeaconConfig{Revocations: rq}, reportJSON(chk, r), "rfe_ref="+ref+"; rfe_chk="+chk)
		if resp.StatusCode() != 204 {
			t.Fatalf("%s: status %d %s", name, resp.StatusCode(), resp.Body())
		}
		if string(resp.Header.Peek("Access-Control-Allow-Origin")) != testOrigin {
			t.Fatalf("%s: CORS header %q", name, resp.Header.Peek("Access-Control-Allow-Origin"))
		}
		cleared := strings.Contains(resp.String(), "rfe_ref=;")
		if want == event.Valid {
			if len(rq.revs) != 0 || cleared {
				t.Fatalf("%s: honest landing revoked (%d revocations, cookie cleared %v)", name, len(rq.revs), cleared)
			}
			return
		}
		if len(rq.revs) != 1 || rq.revs[0].Verdict != want || !cleared {
			t.Fatalf("%s: %d revocations %+v, rfe_ref cleared %v; want %s", name, len(rq.revs), rq.revs, cleared, want)
		}
		for _, reason := range reasons {
			if !slices.Contains(rq.revs[0].Reasons, reason) {
				t.Fatalf("%s: reasons %v lack %s", name, rq.revs[0].Reasons, reason)
			}
		}
		if rq.revs[0].PartnerID != "12345" {
			t.Fatalf("%s: partner %q", name, rq.revs[0].PartnerID)
		}
	}
	f("honest", honest, event.Valid)
	f("hidden tab (middle click)", report{Top: true, Width: 1280, Height: 800, Visible: "hidden", Focus: false}, event.Valid)
	f("framed", report{Top: false, Width: 1280, Height: 800, Visible: "visible"}, event.HiddenFrame, "beacon:framed")
	f("tiny", report{Top: true, Width: 1, Height: 1, Visible: "visible", Focus: true}, event.HiddenFrame, "beacon:tiny")
	f("pop-under", report{Top: true, Width: 1280, Height: 800, Visible: "visible", Opener: true}, event.Popunder, "beacon:opener", "beacon:behind")
	f("pop-up", report{Top: true, Width: 600, Height: 400, Visible: "visible", Focus: true, Opener: true}, event.Popunder, "beacon:opener")
}

func TestBeaconTokens(t *testing.T) {
	e := newTestEdge(t, memState(), &memQueue{})
	rq := &revQueue{}
	bad := report{Top: false, Width: 1, Height: 1}
	_, chk := landing(t, e)
	f := func(name, tok string) {
		t.Helper()
		resp := post(e, BeaconConfig{Revocations: rq}, reportJSON(tok, bad), "")
		if resp.StatusCode() != 400 {
			t.Fatalf("%s: status %d, want 400", name, resp.StatusCode())
		}
	}
	f("empty", "")
	f("tampered partner", strings.Replace(chk, ".12345.", ".12346.", 1))
	f("tampered click", chk[:5]+string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", chk[5])+1)%16])+chk[6:])
	f("truncated", chk[:len(chk)-2])
	ref, _ := landing(t, e)
	f("an rfe_ref is not a beacon token", ref)
	e.Now = func() time.Time { return time.Now().Add(checkTTL + time.Minute) }
	f("expired", chk)
	if len(rq.revs) != 0 {
		t.Fatalf("a rejected token revoked %d clicks", len(rq.revs))
	}
	resp := post(e, BeaconConfig{}, "{not json", "")
	if resp.StatusCode() != 400 {
		t.Fatalf("malformed body: %d", resp.StatusCode())
	}
}

// TestBeaconKeepsOtherClicksCookie: a revocation clears rfe_ref only when the cookie
// belongs to the revoked click (a later honest click keeps its attribution).
func TestBeaconKeepsOtherClicksCookie(t *testing.T) {
	e := newTestEdge(t, memState(), &memQueue{})
	_, oldChk := landing(t, e)
	newRef, _ := landing(t, e)
	resp := post(e, BeaconConfig{Revocations: &revQueue{}}, reportJSON(oldChk, report{Top: false, Width: 900, Height: 900}), "rfe_ref="+newRef)
	if resp.StatusCode() != 204 || strings.Contains(resp.String(), "rfe_ref=;") {
		t.Fatalf("status %d; response cleared another click's cookie:\n%s", resp.StatusCode(), resp.String())
	}
}

func FuzzBeaconReport(f *testing.F) {
	e := newTestEdge(f, memState(), &memQueue{})
	f.Add(`{"t":"x","top":true,"w":1,"h":1}`)
	f.Add(`{"t":123}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		resp := post(e, BeaconConfig{Revocations: &revQueue{}}, body, "rfe_ref="+body)
		if c := resp.StatusCode(); c != 204 && c != 400 && c != 413 {
			t.Fatalf("status %d for %q", c, body)
		}
	})
}
