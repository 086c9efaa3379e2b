package refcookie

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/signing"
)

const (
	keyA = "first-key-0123456789"
	keyB = "second-key-0123456789"
)

var when = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func encode(kr *signing.Keyring, partner string) []byte {
	return Append(nil, kr, []byte(partner), []byte("01a1fe7e-9bf7-7ac7-94a3-4122320be29e"), when, []byte("link"))
}

func TestRoundTrip(t *testing.T) {
	kr := signing.MustKeyring(keyA)
	v := encode(kr, "12345")
	r, err := Decode(v, kr)
	if err != nil {
		t.Fatalf("Decode(%q): %v", v, err)
	}
	if string(r.Partner) != "12345" || string(r.ClickID) != "01a1fe7e-9bf7-7ac7-94a3-4122320be29e" ||
		!r.Time.Equal(when) || string(r.Source) != "link" {
		t.Fatalf("Decode(%q) = %+v", v, r)
	}
}

func TestTampering(t *testing.T) {
	kr := signing.MustKeyring(keyA)
	good := string(encode(kr, "12345"))
	f := func(name, v string, want error) {
		t.Helper()
		if _, err := Decode([]byte(v), kr); !errors.Is(err, want) {
			t.Errorf("%s: Decode(%q) error = %v, want %v", name, v, err, want)
		}
	}
	f("changed partner", strings.Replace(good, ".12345.", ".12346.", 1), ErrSignature)
	f("changed source", strings.Replace(good, ".link.", ".banner.", 1), ErrSignature)
	f("changed time", strings.Replace(good, ".1795", ".1796", 1), ErrSignature)
	f("truncated signature", good[:len(good)-1], ErrSignature)
	f("truncated value", good[:len(good)/2], ErrMalformed)
	f("no signature", good[:strings.LastIndexByte(good, '.')], ErrMalformed)
	f("flipped signature char", good[:len(good)-1]+flip(good[len(good)-1]), ErrSignature)
	f("other key", string(encode(signing.MustKeyring(keyB), "12345")), ErrSignature)
	f("empty", "", ErrMalformed)
	f("version", "v2"+good[2:], ErrMalformed)
	f("extra field", strings.Replace(good, ".link.", ".link.x.", 1), ErrMalformed)
	f("bad partner", strings.Replace(good, ".12345.", ".12<45.", 1), ErrMalformed)
	f("too long", good+strings.Repeat("a", MaxLen), ErrMalformed)
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestRotation: with REFEDGE_SECRET="new,old", cookies signed by the old key still
// verify and new cookies are signed by the new key.
func TestRotation(t *testing.T) {
	old := signing.MustKeyring(keyA)
	rotated := signing.MustKeyring(keyB + "," + keyA)
	if _, err := Decode(encode(old, "p1"), rotated); err != nil {
		t.Fatalf("cookie signed with the second key does not verify after rotation: %v", err)
	}
	fresh := encode(rotated, "p1")
	if _, err := Decode(fresh, signing.MustKeyring(keyB)); err != nil {
		t.Fatalf("new cookies must be signed with the first key: %v", err)
	}
	if _, err := Decode(fresh, old); !errors.Is(err, ErrSignature) {
		t.Fatalf("a cookie signed with the new key verified under the old key alone: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	kr := signing.MustKeyring(keyA + "," + keyB)
	f.Add(encode(kr, "12345"))
	f.Add([]byte("v1.a.b.1.c.d"))
	f.Add([]byte("v1....."))
	f.Add([]byte("v1.p.c.-1.s.AAAAAAAAAAAAAAAAAAAAAA"))
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := Decode(v, kr)
		if err != nil {
			return
		}
		// Anything that verifies must re-encode to exactly the same bytes.
		again := Append(nil, kr, r.Partner, r.ClickID, r.Time, r.Source)
		if !bytes.Equal(again, v) {
			t.Fatalf("Decode accepted %q which re-encodes to %q", v, again)
		}
	})
}
