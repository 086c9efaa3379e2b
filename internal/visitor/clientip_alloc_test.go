//go:build !race

package visitor

import (
	"net"
	"net/netip"
	"testing"
)

// TestClientIPAllocations: reading the client from X-Forwarded-For allocates nothing,
// for IPv4 and IPv6 chains (a malformed hop costs the parser's error value).
func TestClientIPAllocations(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("203.0.113.9/32"), netip.MustParsePrefix("10.0.0.0/8")}
	peer := net.IPv4(203, 0, 113, 9)
	for _, xff := range []string{"3.120.0.1", "178.64.0.1, 3.120.0.1, 10.0.0.5", "2a01:4f8::1", "fe80::1%eth0"} {
		b := []byte(xff)
		if n := testing.AllocsPerRun(100, func() { ClientIP(peer, b, trusted) }); n != 0 {
			t.Errorf("ClientIP(%q): %.0f allocations, want 0", xff, n)
		}
	}
}
