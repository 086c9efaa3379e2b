package event

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// newUUIDv7 returns an RFC 9562 version 7 UUID: 48 bits of Unix milliseconds, then
// random bits. Uniqueness rests on the 74 random bits, not on a shared counter, so
// concurrent handlers never contend.
func newUUIDv7(now time.Time) [16]byte {
	var u [16]byte
	_, _ = rand.Read(u[6:]) // crypto/rand.Read never fails (Go 1.24+)
	ms := uint64(now.UnixMilli())
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], ms<<16)
	copy(u[:6], t[:6])
	u[6] = (u[6] & 0x0f) | 0x70
	u[8] = (u[8] & 0x3f) | 0x80
	return u
}

// NewEventID returns a fresh UUIDv7 string for envelopes.
func NewEventID(now time.Time) string {
	id := NewClickID(now)
	return string(id[:])
}
