package banners

import "testing"

func TestETagMatch(t *testing.T) {
	const tag = `"abc123"`
	f := func(header string, want bool) {
		t.Helper()
		if got := etagMatch([]byte(header), []byte(tag)); got != want {
			t.Fatalf("etagMatch(%q) = %v, want %v", header, got, want)
		}
	}
	f(`"abc123"`, true)
	f(`W/"abc123"`, true) // If-None-Match compares weakly (RFC 9110 13.1.2)
	f(`"x", "abc123"`, true)
	f(`"x",W/"abc123"`, true)
	f(`*`, true)
	f(` "x" , "y" `, false)
	f(`abc123`, false)
	f(`"abc123`, false)
	f(`"abc1234"`, false)
	f(`"ABC123"`, false)
	f(``, false)
	f(`W/`, false)
	f(`junk, "abc123"`, true)
}
