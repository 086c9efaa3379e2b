// Package refcookie encodes and verifies the signed attribution cookie rfe_ref.
//
// The tracker issues it for valid clicks only; the marketplace core copies its raw value
// into user.registered, and the referral ledger verifies it again before attributing.
//
// Value layout (all fields ASCII, '.'-separated, no cookie-unsafe characters):
//
//	v1.<partner id>.<click id>.<unix seconds>.<source>.<signature>
//
// The signature is signing.Keyring over everything before the last '.'.
package refcookie

import (
	"bytes"
	"errors"
	"strconv"
	"time"

	"github.com/refedge/refedge/internal/signing"
)

// Name is the cookie carrying the signed attribution.
const Name = "rfe_ref"

// VisitorName is the cookie carrying the random visitor id.
const VisitorName = "rfe_vid"

const version = "v1"

// MaxLen bounds an encoded value; anything longer is rejected before parsing.
const MaxLen = 256

// Ref is a decoded attribution. Its byte slices alias the decoded input.
type Ref struct {
	Partner []byte
	ClickID []byte
	Time    time.Time
	Source  []byte
}

// Errors returned by Decode. They never carry the cookie value.
var (
	ErrMalformed = errors.New("malformed attribution cookie")
	ErrSignature = errors.New("attribution cookie signature does not verify")
)

// Append appends the signed cookie value for r to dst.
func Append(dst []byte, kr *signing.Keyring, partner, clickID []byte, t time.Time, source []byte) []byte {
	start := len(dst)
	dst = append(dst, version...)
	dst = append(dst, '.')
	dst = append(dst, partner...)
	dst = append(dst, '.')
	dst = append(dst, clickID...)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, t.Unix(), 10)
	dst = append(dst, '.')
	dst = append(dst, source...)
	msg := dst[start:]
	dst = append(dst, '.')
	return kr.AppendSign(dst, msg)
}

// Decode parses and verifies v. The returned Ref aliases v.
func Decode(v []byte, kr *signing.Keyring) (Ref, error) {
	var r Ref
	if len(v) == 0 || len(v) > MaxLen {
		return r, ErrMalformed
	}
	var f [6][]byte
	rest := v
	for i := 0; i < 5; i++ {
		j := bytes.IndexByte(rest, '.')
		if j < 0 {
			return r, ErrMalformed
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	f[5] = rest
	if string(f[0]) != version || bytes.IndexByte(f[5], '.') >= 0 {
		return r, ErrMalformed
	}
	if !ValidPartnerID(f[1]) || !validToken(f[2]) || !validToken(f[4]) {
		return r, ErrMalformed
	}
	sec, err := strconv.ParseInt(string(f[3]), 10, 64)
	if err != nil || sec <= 0 {
		return r, ErrMalformed
	}
	if !kr.Verify(v[:len(v)-len(f[5])-1], f[5]) {
		return r, ErrSignature
	}
	r.Partner, r.ClickID, r.Time, r.Source = f[1], f[2], time.Unix(sec, 0).UTC(), f[4]
	return r, nil
}

// ValidPartnerID reports whether id matches [0-9A-Za-z_-]{1,64}.
func ValidPartnerID(id []byte) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	return validToken(id)
}

func validToken(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// RevokedKey is the Redis key marking a click the verification beacon revoked; the
// ledger refuses to attribute a signup to such a click. It lives in the click's own slot.
func RevokedKey(clickID string) string { return "rfe:revoked:{" + clickID + "}" }
