package banners

import (
	"testing"
)

func TestParsePath(t *testing.T) {
	f := func(path, wantCreative string, wantSize Size, wantOK bool) {
		t.Helper()
		cr, si, ok := parsePath([]byte(path))
		if ok != wantOK {
			t.Fatalf("parsePath(%q) ok = %v, want %v", path, ok, wantOK)
		}
		if !ok {
			return
		}
		if string(cr) != wantCreative || Sizes[si] != wantSize {
			t.Fatalf("parsePath(%q) = %q, %v; want %q, %v", path, cr, Sizes[si], wantCreative, wantSize)
		}
	}
	for _, s := range Sizes {
		f("/b/services/"+s.String()+".jpg", "services", s, true)
	}
	f("/b/a/88x31.jpg", "a", Size{88, 31}, true)
	f("/b/spring-sale_2/300x250.jpg", "spring-sale_2", Size{300, 250}, true)
	f("/b/"+string(make48('a'))+"/300x250.jpg", string(make48('a')), Size{300, 250}, true)
	f("/b/"+string(make48('a'))+"a/300x250.jpg", "", Size{}, false) // 49 characters
	f("/b/services/300x251.jpg", "", Size{}, false)                 // not a program size
	f("/b/services/250x300.jpg", "", Size{}, false)
	f("/b/services/1x1.jpg", "", Size{}, false)
	f("/b/services/0300x250.jpg", "", Size{}, false)
	f("/b/services/300x0250.jpg", "", Size{}, false)
	f("/b/services/300x250.png", "", Size{}, false)
	f("/b/services/300x250.jpeg", "", Size{}, false)
	f("/b/services/300X250.jpg", "", Size{}, false)
	f("/b/services/300x250x1.jpg", "", Size{}, false)
	f("/b/services/x250.jpg", "", Size{}, false)
	f("/b/services/300x.jpg", "", Size{}, false)
	f("/b/services/99999x250.jpg", "", Size{}, false)
	f("/b/Services/300x250.jpg", "", Size{}, false)
	f("/b/ser%20vices/300x250.jpg", "", Size{}, false)
	f("/b/../300x250.jpg", "", Size{}, false)
	f("/b//300x250.jpg", "", Size{}, false)
	f("/b/services/sub/300x250.jpg", "", Size{}, false)
	f("/b/300x250.jpg", "", Size{}, false)
	f("/b/materials", "", Size{}, false)
	f("/b/", "", Size{}, false)
	f("", "", Size{}, false)
	f("/x/services/300x250.jpg", "", Size{}, false)
}

func make48(c byte) []byte {
	b := make([]byte, 48)
	for i := range b {
		b[i] = c
	}
	return b
}

// FuzzParsePath checks that any accepted path is exactly the canonical form of what
// it returns, so no two paths name one banner and nothing else slips through.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"/b/services/468x60.jpg", "/b/a/88x31.jpg", "/b/x/100x100.jpg", "/b/services/300x251.jpg",
		"/b/../300x250.jpg", "/b/services/0300x250.jpg", "/b/materials", "/b/s/ 300x250.jpg", "/b/s/300x250.jpg\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		cr, si, ok := parsePath([]byte(p))
		if !ok {
			return
		}
		if !ValidCreativeID(string(cr)) {
			t.Fatalf("accepted creative %q of %q", cr, p)
		}
		if want := "/b/" + string(cr) + "/" + Sizes[si].String() + ".jpg"; want != p {
			t.Fatalf("accepted %q, canonical form is %q", p, want)
		}
	})
}

func TestValidCreativeID(t *testing.T) {
	f := func(id string, want bool) {
		t.Helper()
		if got := ValidCreativeID(id); got != want {
			t.Fatalf("ValidCreativeID(%q) = %v, want %v", id, got, want)
		}
	}
	f("services", true)
	f("a-b_c-9", true)
	f("", false)
	f("A", false)
	f("a.b", false)
	f("a/b", false)
	f(string(make48('z')), true)
	f(string(make48('z'))+"z", false)
}
