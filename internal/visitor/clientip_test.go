package visitor

import (
	"net"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}
	f := func(peer, xff, want string) {
		t.Helper()
		got := ClientIP(net.ParseIP(peer), []byte(xff), trusted)
		if got.String() != want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", peer, xff, got, want)
		}
	}
	f("203.0.113.7", "", "203.0.113.7")
	f("203.0.113.7", "1.2.3.4", "203.0.113.7") // untrusted peer: header ignored
	f("10.1.1.1", "1.2.3.4", "1.2.3.4")
	f("10.1.1.1", "6.6.6.6, 1.2.3.4", "1.2.3.4")           // left part is the client's claim
	f("10.1.1.1", "6.6.6.6, 1.2.3.4, 10.2.2.2", "1.2.3.4") // skip trusted hops
	f("10.1.1.1", "garbage, 1.2.3.4", "1.2.3.4")
	f("10.1.1.1", "1.2.3.4, garbage", "10.1.1.1")
	f("10.1.1.1", "2001:db8::1", "2001:db8::1")
	f("127.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.2")
	f("::ffff:10.1.1.1", "1.2.3.4", "1.2.3.4")
}
