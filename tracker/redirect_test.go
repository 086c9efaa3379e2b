package tracker

import (
	"net/url"
	"strings"
	"testing"
)

const testOrigin = "https://market.example"

func location(path, query string) string {
	return string(appendLocation(nil, testOrigin, []byte(path), []byte(query)))
}

func TestLocation(t *testing.T) {
	f := func(path, query, want string) {
		t.Helper()
		if got := location(path, query); got != want {
			t.Errorf("appendLocation(%q, %q)\n got %q\nwant %q", path, query, got, want)
		}
	}
	f("/categories/design", "ref=12345", testOrigin+"/categories/design")
	f("/categories/design", "a=1&ref=12345&b=2", testOrigin+"/categories/design?a=1&b=2")
	f("/", "ref=1&src=banner&cr=468x60&sub=x", testOrigin+"/")
	f("/k/1", "REF=1&Src=w&%72ef=2&q=a%20b", testOrigin+"/k/1?q=a%20b")
	f("/k/1", "q=a+b&&x", testOrigin+"/k/1?q=a+b&x")
	f("/k/%D0%BF", "", testOrigin+"/k/%D0%BF")
	f("/пример", "", testOrigin+"/%D0%BF%D1%80%D0%B8%D0%BC%D0%B5%D1%80")
	f("/a b", "c=d e", testOrigin+"/a%20b?c=d%20e")
	f("/100%", "", testOrigin+"/100%25")
}

// TestOpenRedirect feeds hostile paths and queries: the Location must always parse as
// a URL on the origin, with no way for a browser to read another host out of it.
func TestOpenRedirect(t *testing.T) {
	hostile := []struct{ path, query string }{
		{"//evil.com", "ref=1"},
		{"///evil.com", "ref=1"},
		{"/\\evil.com", "ref=1"},
		{"\\\\evil.com", "ref=1"},
		{"/\\/evil.com/", "ref=1"},
		{"/%2F%2Fevil.com", "ref=1"},
		{"/%5C%5Cevil.com", "ref=1"},
		{"/%2f%5cevil.com", "ref=1"},
		{"https://evil.com/", "ref=1"},
		{"/https://evil.com", "ref=1"},
		{"//evil.com@market.example", "ref=1"},
		{"/@evil.com", "ref=1"},
		{"/.evil.com", "ref=1"},
		{"/x\r\nLocation: https://evil.com", "ref=1"},
		{"/x%0d%0aSet-Cookie:%20a=b", "ref=1"},
		{"/x", "ref=1&a=\r\nLocation:%20https://evil.com"},
		{"/x", "next=https://evil.com&ref=1"},
		{"/x#@evil.com", "ref=1"},
		{"/x\x00evil", "ref=1"},
		{"/\t/evil.com", "ref=1"},
		{" //evil.com", "ref=1"},
		{"/x", "ref=1#//evil.com"},
		{"/" + strings.Repeat("a/", MaxPathLen), "ref=1"},
		{"/x", "ref=1&" + strings.Repeat("q=1&", MaxQueryLen)},
		{"javascript:alert(1)", "ref=1"},
		{"/%E2%80%AE/evil", "ref=1"},
		{"/\u202e/evil", "ref=1"},
		{"//evil%E3%80%82com", "ref=1"},
		{"/\xff\xfe", "ref=1"},
	}
	if len(hostile) < 20 {
		t.Fatalf("the table needs at least 20 hostile inputs, has %d", len(hostile))
	}
	for _, h := range hostile {
		checkOnOrigin(t, location(h.path, h.query))
	}
}

func checkOnOrigin(t *testing.T, loc string) {
	t.Helper()
	if !strings.HasPrefix(loc, testOrigin+"/") {
		t.Fatalf("Location %q does not start with the origin", loc)
	}
	for _, c := range []byte(loc) {
		if c <= 0x20 || c >= 0x7f || c == '\\' || c == '#' {
			t.Fatalf("Location %q contains byte %#x", loc, c)
		}
	}
	if strings.HasPrefix(loc[len(testOrigin):], "//") {
		t.Fatalf("Location %q has a scheme-relative path", loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q does not parse: %v", loc, err)
	}
	if u.Scheme != "https" || u.Host != "market.example" || u.User != nil {
		t.Fatalf("Location %q leaves the origin: %#v", loc, u)
	}
	for _, p := range ownParams {
		if u.Query().Has(p) {
			t.Fatalf("Location %q keeps refedge's parameter %q", loc, p)
		}
	}
}

func FuzzLocation(f *testing.F) {
	for _, s := range [][2]string{
		{"/", "ref=1"}, {"//evil.com", "ref=1&x=2"}, {"/\\evil", "%72ef=1"}, {"/a%2F", "a=%ZZ&ref"},
		{"/\r\n", "x=\x00"}, {"/пример", "q=ü"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		checkOnOrigin(t, location(path, query))
	})
}
