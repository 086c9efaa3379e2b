package localpath

import "testing"

func TestPlain(t *testing.T) {
	f := func(p string, want bool) {
		t.Helper()
		if got := Plain(p); got != want {
			t.Errorf("Plain(%q) = %v, want %v", p, got, want)
		}
	}
	f("/partner", true)
	f("/admin/orders/o-1?x=1", true)
	f("", false)
	f("partner", false)
	f("//evil.example/", false)
	f("/partner//evil.example", false)
	f("/\\evil.example", false)
	f("/partner\x00", false)
	f("/partner\n", false)
	f("/p\u00e4rtner", false)
	f("/a b", false)
}

func FuzzPlain(f *testing.F) {
	for _, s := range []string{"/partner", "//x", "/\\x", "/a%2F%2Fb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !Plain(p) {
			return
		}
		if p[0] != '/' || len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
			t.Fatalf("Plain accepted %q, which a browser may read as another host", p)
		}
	})
}
