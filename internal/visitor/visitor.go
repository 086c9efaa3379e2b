// Package visitor holds the small, allocation-free visitor helpers that more than one
// public handler needs: the client address behind trusted proxies, a coarse device
// label, and the keyed daily visitor hash stored with events.
//
// The tracker (clicks), banners and widget (impressions) all use them, so an
// impression's visitor_hash joins a click's for the same browser on the same day.
package visitor

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"github.com/refedge/refedge/internal/signing"
)

// ClientIP returns the visitor's address. X-Forwarded-For is believed only when the TCP
// peer is a trusted proxy; then the right-most address that is not itself a trusted
// proxy is the client (addresses further left are whatever the client claimed).
func ClientIP(peer net.IP, xff []byte, trusted []netip.Prefix) netip.Addr {
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
		a, err := parseAddr(bytes.TrimSpace(part))
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

// parseAddr is netip.ParseAddr on bytes without copying them to a string: a string
// conversion escapes (a parse error keeps its input), which cost every proxied request
// an allocation. The string aliases b only during the call: the error is dropped here and
// an Addr keeps no reference to its input (a zone is interned as a copy).
func parseAddr(b []byte) (netip.Addr, error) {
	if len(b) == 0 {
		return netip.Addr{}, errEmptyAddr
	}
	a, err := netip.ParseAddr(unsafe.String(&b[0], len(b)))
	if err != nil {
		return netip.Addr{}, errBadAddr
	}
	return a, nil
}

var (
	errEmptyAddr = errors.New("empty address")
	errBadAddr   = errors.New("not an IP address")
)

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Device returns a coarse label (desktop, mobile, tablet, unknown) for analytics
// breakdowns. It does not judge traffic.
func Device(ua []byte) string {
	switch {
	case len(ua) == 0:
		return "unknown"
	case bytes.Contains(ua, []byte("iPad")) || bytes.Contains(ua, []byte("Tablet")) ||
		(bytes.Contains(ua, []byte("Android")) && !bytes.Contains(ua, []byte("Mobile"))):
		return "tablet"
	case bytes.Contains(ua, []byte("Mobi")) || bytes.Contains(ua, []byte("iPhone")) || bytes.Contains(ua, []byte("Android")):
		return "mobile"
	default:
		return "desktop"
	}
}

// AppendHash appends a keyed hash of ip and ua to dst. The UTC day is part of the signed
// message, so the hash changes daily and cannot be joined across days or reversed
// without the secret; the raw address is never stored. scratch is working memory (its
// contents are overwritten); pass a reusable buffer to stay allocation-free.
func AppendHash(dst, scratch []byte, kr *signing.Keyring, now time.Time, ip netip.Addr, ua []byte) ([]byte, []byte) {
	msg := now.UTC().AppendFormat(scratch[:0], "20060102")
	msg = append(msg, '|')
	msg = ip.AppendTo(msg)
	msg = append(msg, '|')
	msg = append(msg, ua...)
	return kr.AppendSign(dst, msg), msg
}

// PeerTrusted reports whether the TCP peer is a trusted proxy, whose forwarding headers
// (X-Forwarded-For, X-Forwarded-Proto) are believed.
func PeerTrusted(peer net.IP, trusted []netip.Prefix) bool {
	addr, _ := netip.AddrFromSlice(peer)
	return isTrusted(addr.Unmap(), trusted)
}

// ValidID reports whether v has the form of an rfe_vid value: 22 base64url characters
// (16 random bytes).
func ValidID(v []byte) bool {
	if len(v) != 22 {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RefererHost returns the host of a Referer value (aliasing it), or nil when it has
// none, is longer than a host name can be, or is not printable ASCII: stored strings
// stay valid, log-safe text. Browsers send lower-case hosts; anything else is kept as sent.
func RefererHost(ref []byte) []byte {
	i := bytes.Index(ref, []byte("://"))
	if i < 0 {
		return nil
	}
	h := ref[i+3:]
	if j := bytes.IndexAny(h, "/?#"); j >= 0 {
		h = h[:j]
	}
	if j := bytes.LastIndexByte(h, '@'); j >= 0 {
		h = h[j+1:]
	}
	if len(h) == 0 || len(h) > 255 {
		return nil
	}
	for _, c := range h {
		if c <= 0x20 || c > 0x7e {
			return nil
		}
	}
	return h
}
