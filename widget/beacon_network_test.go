package widget

import (
	"html"
	"net/netip"
	"testing"

	"github.com/refedge/refedge/internal/ipintel/ipinteltest"
	"github.com/refedge/refedge/internal/partners"
)

// TestViewBeaconNetwork: a view carries the country and ASN of the viewer's address,
// the right-most X-Forwarded-For entry a trusted proxy added, as a click does; from an
// untrusted peer the header is not believed and the peer's own address is looked up.
func TestViewBeaconNetwork(t *testing.T) {
	svc := ipinteltest.Service(t)
	f := func(trusted []netip.Prefix, xff, country string, asn uint32) {
		t.Helper()
		fx := newFixture(t, func(c *Config) { c.Network, c.TrustedProxies = svc, trusted })
		fx.partner(t, "p-net", partners.Active)
		fx.kwork(t, Kwork{ID: "k1", Title: "K", Category: "design"})
		w := fx.widget(t, "p-net", Spec{Category: "design", Size: "468x60"})
		m := reBody.FindStringSubmatch(string(do(fx.svc.Handler(), "GET", "/w/"+w.ID, nil, nil).Body()))
		if m == nil {
			t.Fatal("no beacon in the frame")
		}
		code := do(fx.svc.Handler(), "POST", "/w/"+w.ID+"/view", []byte(html.UnescapeString(m[3])), map[string]string{
			"Content-Type": "text/plain;charset=UTF-8", "User-Agent": "Mozilla/5.0 test", "X-Forwarded-For": xff}).StatusCode()
		if code != 204 {
			t.Fatalf("beacon = %d, want 204", code)
		}
		rows := fx.imp.rows()
		if len(rows) != 1 || rows[0].Country != country || rows[0].ASN != asn {
			t.Fatalf("impressions %+v, want one with country %q ASN %d", rows, country, asn)
		}
	}
	// do() connects from 203.0.113.9.
	proxy := []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32"), netip.MustParsePrefix("10.0.0.0/8")}
	f(proxy, "178.64.0.1, 10.0.0.5", "RU", 12389) // Rostelecom behind two proxies
	f(proxy, "2003::1", "DE", 3320)               // Deutsche Telekom IPv6
	f(proxy, "3.120.0.1", "DE", 16509)            // AWS Frankfurt: recorded, not refused
	peer := svc.Lookup(netip.MustParseAddr("203.0.113.9"))
	if peer.ASN == 12389 {
		t.Fatal("the peer's address is in the Rostelecom AS: pick another test peer")
	}
	f(nil, "178.64.0.1", peer.Country, peer.ASN) // untrusted peer: its own address
}
