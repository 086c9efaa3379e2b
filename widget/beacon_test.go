package widget

import (
	"html"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
)

func TestViewToken(t *testing.T) {
	kr := signing.MustKeyring(testSecret)
	other := signing.MustKeyring("another-secret-0123456789")
	render := strings.Repeat("R", 22)
	tok := appendViewToken(nil, kr, "abcdefghij01", []byte(render), 1700000000, []byte("blog.example"))
	vt, err := parseViewToken(kr, "abcdefghij01", tok)
	if err != nil || vt.render != render || vt.at.Unix() != 1700000000 || vt.host != "blog.example" {
		t.Fatalf("round trip = %+v, %v", vt, err)
	}
	bad := func(widget string, tok []byte) {
		t.Helper()
		if vt, err := parseViewToken(kr, widget, tok); err == nil {
			t.Fatalf("parseViewToken(%s, %s) = %+v; want an error", widget, tok, vt)
		}
	}
	s := string(tok)
	bad("abcdefghij02", tok)                                                                   // another widget
	bad("abcdefghij01", []byte(strings.Replace(s, render, strings.Repeat("S", 22), 1)))        // another render
	bad("abcdefghij01", []byte(strings.Replace(s, "1700000000", "1700000001", 1)))             // another time
	bad("abcdefghij01", []byte(strings.Replace(s, "YmxvZy5leGFtcGxl", "ZXZpbC5leGFtcGxl", 1))) // another host
	bad("abcdefghij01", appendViewToken(nil, other, "abcdefghij01", []byte(render), 1700000000, []byte("blog.example")))
	bad("abcdefghij01", nil)
	bad("abcdefghij01", []byte(s+"."))
	bad("abcdefghij01", []byte(strings.Replace(s, "1700000000", "01700000000", 1)))
	bad("abcdefghij01", []byte(strings.Repeat("x", 600)))
	// A host that is too long is dropped, not signed.
	tok = appendViewToken(nil, kr, "abcdefghij01", []byte(render), 1, []byte(strings.Repeat("h", 300)))
	if vt, err := parseViewToken(kr, "abcdefghij01", tok); err != nil || vt.host != "" {
		t.Fatalf("long host: %+v, %v", vt, err)
	}
}

func TestViewBeacon(t *testing.T) {
	f := newFixture(t)
	f.partner(t, "p-9", partners.Active)
	f.kwork(t, Kwork{ID: "k1", Title: "K", Category: "design"})
	w := f.widget(t, "p-9", Spec{Category: "design", Size: "468x60"})
	w2 := f.widget(t, "p-9", Spec{Category: "design"})
	body := string(do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, map[string]string{"Referer": "https://blog.example/a"}).Body())
	m := reBody.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no beacon in the frame")
	}
	tok := []byte(html.UnescapeString(m[3]))
	post := func(id string, tok []byte) int {
		return do(f.svc.Handler(), "POST", "/w/"+id+"/view", tok, map[string]string{
			"Content-Type": "text/plain;charset=UTF-8", "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile"}).StatusCode()
	}
	if code := post(w2.ID, tok); code != 400 {
		t.Fatalf("token of another widget = %d, want 400", code)
	}
	if code := post(w.ID, []byte("garbage")); code != 400 {
		t.Fatalf("garbage = %d, want 400", code)
	}
	if len(f.imp.rows()) != 0 {
		t.Fatal("an invalid beacon was recorded")
	}
	for i := 0; i < 3; i++ { // the first counts; replays answer the same and count nothing
		if code := post(w.ID, tok); code != 204 {
			t.Fatalf("beacon %d = %d, want 204", i, code)
		}
	}
	rows := f.imp.rows()
	if len(rows) != 1 {
		t.Fatalf("%d impressions, want 1", len(rows))
	}
	r := rows[0]
	if r.Partner != "p-9" || r.Source != "widget" || r.Creative != w.ID || r.Size != "468x60" || r.Render != m[1] ||
		r.Host != "blog.example" || r.Device != "mobile" || len(r.VisitorHash) != signing.SigLen {
		t.Fatalf("impression = %+v", r)
	}
	// Expired: a render older than ViewWindow no longer counts.
	f.svc.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	body = string(do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, nil).Body())
	f.svc.Now = time.Now
	m = reBody.FindStringSubmatch(body)
	if code := post(w.ID, []byte(html.UnescapeString(m[3]))); code != 400 {
		t.Fatalf("a token from the future = %d, want 400", code)
	}
	f.svc.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	body = string(do(f.svc.Handler(), "GET", "/w/"+w.ID, nil, nil).Body())
	f.svc.Now = time.Now
	m = reBody.FindStringSubmatch(body)
	if code := post(w.ID, []byte(html.UnescapeString(m[3]))); code != 400 {
		t.Fatalf("an expired token = %d, want 400", code)
	}
	if len(f.imp.rows()) != 1 {
		t.Fatal("an expired beacon was recorded")
	}
}
