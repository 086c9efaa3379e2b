package widget

import "testing"

func TestFormatPrice(t *testing.T) {
	f := func(minor int64, cur, lang, want string) {
		t.Helper()
		if got := formatPrice(minor, cur, lang); got != want {
			t.Fatalf("formatPrice(%d, %s, %s) = %q; want %q", minor, cur, lang, got, want)
		}
	}
	f(150000, "USD", "en", "$1,500")
	f(1550, "USD", "en", "$15.50")
	f(1505, "USD", "en", "$15.05")
	f(0, "EUR", "en", "€0")
	f(150000, "RUB", "ru", "1\u00a0500\u00a0₽")
	f(150000, "RUB", "en", "1,500\u00a0₽")
	f(1550, "USD", "ru", "15,50\u00a0$")
	f(123456789, "USD", "en", "$1,234,567.89")
	f(1500, "JPY", "en", "¥1,500")
	f(1500, "KWD", "en", "1.500\u00a0KWD")
	f(1500, "XYZ", "en", "15\u00a0XYZ")
	f(-250, "USD", "en", "$-2.50")
}

func TestFormatRating(t *testing.T) {
	f := func(r float64, lang, want string) {
		t.Helper()
		if got := formatRating(r, lang); got != want {
			t.Fatalf("formatRating(%v, %s) = %q; want %q", r, lang, got, want)
		}
	}
	f(0, "en", "")
	f(4.94, "en", "4.9")
	f(5, "ru", "5,0")
	f(4.25, "ru", "4,2")
}

func TestDisplayTitle(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := displayTitle(in); got != want {
			t.Fatalf("displayTitle(%q) = %q; want %q", in, got, want)
		}
	}
	long := ""
	for i := 0; i < 120; i++ {
		long += "я"
	}
	f("Logo", "Logo")
	f(long[:200], long[:200]) // exactly 100 runes
	f(long[:202], long[:198]+"…")
	f(long, long[:198]+"…")
}
