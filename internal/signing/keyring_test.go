package signing

import (
	"strings"
	"testing"
)

func TestParseKeyring(t *testing.T) {
	f := func(in string, wantKeys int) {
		t.Helper()
		kr, err := ParseKeyring(in)
		if wantKeys == 0 {
			if err == nil {
				t.Errorf("ParseKeyring(%q) accepted a bad secret", in)
			}
			return
		}
		if err != nil || kr.Len() != wantKeys {
			t.Errorf("ParseKeyring(%q) = %v keys, %v; want %d", in, kr, err, wantKeys)
		}
	}
	f("0123456789abcdef", 1)
	f("0123456789abcdef, fedcba9876543210", 2)
	f("short", 0)
	f("0123456789abcdef,", 0)
	f("", 0)
}

func TestSecretNotInError(t *testing.T) {
	_, err := ParseKeyring("0123456789abcdef,tooshort")
	if err == nil || strings.Contains(err.Error(), "tooshort") || strings.Contains(err.Error(), "0123456789abcdef") {
		t.Fatalf("error must not echo the secret: %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	kr := MustKeyring("0123456789abcdef,fedcba9876543210")
	msg := []byte("hello")
	sig := kr.AppendSign(nil, msg)
	if len(sig) != SigLen || !kr.Verify(msg, sig) {
		t.Fatalf("signature %q does not verify", sig)
	}
	if kr.Verify([]byte("hellp"), sig) {
		t.Fatal("signature verified another message")
	}
	second := MustKeyring("fedcba9876543210").AppendSign(nil, msg)
	if !kr.Verify(msg, second) {
		t.Fatal("a signature by the second key must verify")
	}
	if MustKeyring("0123456789abcdef").Verify(msg, second) {
		t.Fatal("a signature by a key not in the ring verified")
	}
}
