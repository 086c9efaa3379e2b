package tracker

import (
	"bytes"
	"net"
	"net/netip"
)

// clientIP returns the visitor's address. X-Forwarded-For is believed only when the TCP
// peer is a trusted proxy; then the right-most address that is not itself a trusted
// proxy is the client (addresses further left are whatever the client claimed).
func clientIP(peer net.IP, xff []byte, trusted []netip.Prefix) netip.Addr {
	addr, _ := netip.AddrFromSlice(peer)
	addr = addr.Unmap()
	if len(xff) == 0 || !isTrusted(addr, trusted) {
		return addr
	}
	for len(xff) > 0 {
		var part []byte
		if i := bytes.LastIndexByte(xff, ','); i >= 0 {
			part, xff = xff[i+1:], xff[:i]
		} else {
			part, xff = xff, nil
		}
		part = bytes.TrimSpace(part)
		a, err := netip.ParseAddr(string(part))
		if err != nil {
			// A malformed hop ends the chain we can trust: use the last good hop.
			return addr
		}
		addr = a.Unmap()
		if !isTrusted(addr, trusted) {
			return addr
		}
	}
	return addr
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
