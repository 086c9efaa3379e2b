package widget

import (
	"strings"
	"testing"
)

func TestMarketPath(t *testing.T) {
	ok := func(raw, want string) {
		t.Helper()
		got, err := marketPath(raw, testMarket)
		if err != nil || got != want {
			t.Fatalf("marketPath(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	ok("https://market.example/kwork/1/logo", "/kwork/1/logo")
	ok("https://MARKET.example", "/")
	ok("https://market.example/kwork/1?color=red#reviews", "/kwork/1?color=red")
	ok("https://market.example/kwork/1?ref=evil&Src=x&cr=y&sub=z&a=1", "/kwork/1?a=1")
	ok("https://market.example/kwork/%D0%BB%D0%BE%D0%B3%D0%BE", "/kwork/%D0%BB%D0%BE%D0%B3%D0%BE")
	ok("https://market.example/kwork/логотип", "/kwork/%D0%BB%D0%BE%D0%B3%D0%BE%D1%82%D0%B8%D0%BF")

	bad := func(raw string) {
		t.Helper()
		if got, err := marketPath(raw, testMarket); err == nil {
			t.Fatalf("marketPath(%q) = %q; want an error", raw, got)
		}
	}
	bad("")
	bad("/kwork/1")
	bad("http://market.example/kwork/1") // other scheme
	bad("https://market.example.evil.com/kwork/1")
	bad("https://evil.example/kwork/1")
	bad("https://market.example:8443/kwork/1")
	bad("https://user@market.example/kwork/1")
	bad("javascript:alert(1)")
	bad("https:market.example")
	bad("//market.example/kwork/1")
	bad("https://market.example//evil.example/x")
	bad("https://market.example/" + strings.Repeat("a", 1100))
}

func TestKworkValidate(t *testing.T) {
	base := func() Kwork {
		return Kwork{ID: "42", Title: "Logo", Category: "design", Price: 1500, Currency: "usd",
			URL: testMarket + "/kwork/42", Rating: 4.8}
	}
	k := base()
	if err := k.Validate(testMarket); err != nil {
		t.Fatal(err)
	}
	if k.Status != StatusActive || k.Currency != "USD" || k.Path != "/kwork/42" {
		t.Fatalf("normalised kwork = %+v", k)
	}
	bad := func(mod func(*Kwork), want string) {
		t.Helper()
		k := base()
		mod(&k)
		if err := k.Validate(testMarket); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate = %v; want %q", err, want)
		}
	}
	bad(func(k *Kwork) { k.ID = "4 2" }, "kwork_id")
	bad(func(k *Kwork) { k.Title = "  " }, "title is empty")
	bad(func(k *Kwork) { k.Title = strings.Repeat("я", 201) }, "at most 200")
	bad(func(k *Kwork) { k.Title = "a\x00b" }, "control")
	bad(func(k *Kwork) { k.Title = "a\xffb" }, "valid UTF-8")
	bad(func(k *Kwork) { k.Category = "a}b" }, "category")
	bad(func(k *Kwork) { k.Price = -1 }, "price")
	bad(func(k *Kwork) { k.Currency = "dollars" }, "currency")
	bad(func(k *Kwork) { k.Rating = 7 }, "rating")
	bad(func(k *Kwork) { k.Status = "hidden" }, "status")
	bad(func(k *Kwork) { k.URL = "https://evil.example/kwork/42" }, "marketplace origin")
	// Hostile titles are valid data: the template escapes them.
	k = base()
	k.Title = `"><img src=x onerror=alert(1)> <script>x()</script> שלום 🎨`
	if err := k.Validate(testMarket); err != nil {
		t.Fatalf("a hostile but printable title is data, not an error: %v", err)
	}
}
