// Package signing holds the HMAC keyring behind every signed value refedge issues:
// attribution cookies, verification beacons and partner tokens. The first key signs,
// every key verifies, so a key can be rotated without invalidating what is in flight.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// MinKeyLen is the shortest secret accepted, in bytes.
const MinKeyLen = 16

// SigLen is the length of an encoded signature: 16 bytes of HMAC-SHA256, base64url.
const SigLen = 22

const macBytes = 16

var strictB64 = base64.RawURLEncoding.Strict()

// Keyring signs with its first key and verifies with all of them.
type Keyring struct {
	keys []*key
}

type key struct {
	pool sync.Pool // of *macState
}

// macState is a reusable HMAC with its output buffer, so signing allocates nothing
// (a stack buffer handed to hash.Hash.Sum would escape).
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// ParseKeyring reads a comma-separated list of secrets (REFEDGE_SECRET).
func ParseKeyring(s string) (*Keyring, error) {
	var kr Keyring
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if len(part) < MinKeyLen {
			return nil, fmt.Errorf("key %d is %d bytes long; want at least %d", i+1, len(part), MinKeyLen)
		}
		secret := []byte(part)
		k := &key{}
		k.pool.New = func() any { return &macState{h: hmac.New(sha256.New, secret)} }
		kr.keys = append(kr.keys, k)
	}
	if len(kr.keys) == 0 {
		return nil, errors.New("no key")
	}
	return &kr, nil
}

// MustKeyring is ParseKeyring for tests and examples; it panics on a bad secret.
func MustKeyring(s string) *Keyring {
	kr, err := ParseKeyring(s)
	if err != nil {
		panic(err)
	}
	return kr
}

// Len returns the number of keys.
func (kr *Keyring) Len() int { return len(kr.keys) }

// AppendSign appends the base64url signature of msg, made with the first key, to dst.
func (kr *Keyring) AppendSign(dst, msg []byte) []byte {
	m := kr.keys[0].pool.Get().(*macState)
	m.h.Reset()
	m.h.Write(msg)
	dst = base64.RawURLEncoding.AppendEncode(dst, m.h.Sum(m.sum[:0])[:macBytes])
	kr.keys[0].pool.Put(m)
	return dst
}

// Verify reports whether sig is a signature of msg under any key, in constant time per key.
func (kr *Keyring) Verify(msg, sig []byte) bool {
	if len(sig) != SigLen {
		return false
	}
	var want [macBytes]byte
	// Strict: the plain decoder ignores the last character's spare bits, which would let
	// several encodings of one signature verify.
	if _, err := strictB64.Decode(want[:], sig); err != nil {
		return false
	}
	ok := false
	for _, k := range kr.keys {
		// Every key is tried, so the time taken does not tell which key matched.
		m := k.pool.Get().(*macState)
		m.h.Reset()
		m.h.Write(msg)
		if hmac.Equal(m.h.Sum(m.sum[:0])[:macBytes], want[:]) {
			ok = true
		}
		k.pool.Put(m)
	}
	return ok
}
