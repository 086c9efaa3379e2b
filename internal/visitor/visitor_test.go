package visitor

import (
	"net/netip"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/signing"
)

func TestDevice(t *testing.T) {
	f := func(ua, want string) {
		t.Helper()
		if got := Device([]byte(ua)); got != want {
			t.Fatalf("Device(%q) = %s, want %s", ua, got, want)
		}
	}
	f("", "unknown")
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148", "mobile")
	f("Mozilla/5.0 (Linux; Android 14; Pixel 8) Mobile Safari/537.36", "mobile")
	f("Mozilla/5.0 (Linux; Android 14; SM-X710) Safari/537.36", "tablet")
	f("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "tablet")
	f("Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0", "desktop")
}

func TestAppendHash(t *testing.T) {
	kr := signing.MustKeyring("visitor-test-secret-0123456789")
	day := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.7")
	h := func(at time.Time, ip netip.Addr, ua string) string {
		out, _ := AppendHash(nil, make([]byte, 0, 64), kr, at, ip, []byte(ua))
		return string(out)
	}
	a := h(day, ip, "ua")
	if a != h(day.Add(13*time.Hour), ip, "ua") {
		t.Fatal("the hash changed within a day")
	}
	if a == h(day.Add(24*time.Hour), ip, "ua") || a == h(day, netip.MustParseAddr("198.51.100.8"), "ua") || a == h(day, ip, "ua2") {
		t.Fatal("the hash ignores the day, the address or the User-Agent")
	}
}

func TestValidID(t *testing.T) {
	f := func(v string, want bool) {
		t.Helper()
		if got := ValidID([]byte(v)); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", v, got, want)
		}
	}
	f("AAAAAAAAAAAAAAAAAAAAAA", true)
	f("abc-_0123456789ABCDxyz", true)
	f("AAAAAAAAAAAAAAAAAAAAA", false)
	f("AAAAAAAAAAAAAAAAAAAAAAA", false)
	f("AAAAAAAAAAAAAAAAAAAAA=", false)
	f("", false)
}

func TestRefererHost(t *testing.T) {
	f := func(ref, want string) {
		t.Helper()
		if got := string(RefererHost([]byte(ref))); got != want {
			t.Fatalf("RefererHost(%q) = %q, want %q", ref, got, want)
		}
	}
	f("https://blog.example/post/1?x=1", "blog.example")
	f("https://blog.example", "blog.example")
	f("http://user:pw@blog.example:8080/", "blog.example:8080")
	f("https://blog.example#frag", "blog.example")
	f("blog.example/post", "")
	f("https:///path", "")
	f("https://bl og.example/", "")
	f("https://blög.example/", "")
	f("", "")
}
