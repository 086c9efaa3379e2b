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

// Prices use the product's ISO 4217 table (internal/currency): the same numerals as the
// dashboard writes for the same minor units (attribution/dashboard/money_test.go checks
// the same list), 1000 minor units of JPY are ¥1,000 and of RWF 1,000 RWF.
func TestFormatPriceUsesISO4217(t *testing.T) {
	for _, x := range []struct {
		minor   int64
		cur     string
		numeral string
	}{
		{1000, "JPY", "1,000"}, {1500, "BHD", "1.500"}, {1234, "USD", "12.34"},
		{1000, "RWF", "1,000"}, {1000, "KMF", "1,000"}, {1000, "GNF", "1,000"}, {1000, "DJF", "1,000"},
		{1000, "VUV", "1,000"}, {1000, "XPF", "1,000"}, {1000, "BIF", "1,000"}, {1000, "UYI", "1,000"},
		{1234, "KWD", "1.234"}, {1234, "OMR", "1.234"}, {1234, "JOD", "1.234"}, {1234, "IQD", "1.234"},
		{1234, "LYD", "1.234"}, {1234, "TND", "1.234"},
		{1234, "CLF", "0.1234"}, {12345, "UYW", "1.2345"},
	} {
		want := x.numeral + "\u00a0" + x.cur
		switch x.cur {
		case "JPY":
			want = "¥" + x.numeral
		case "USD":
			want = "$" + x.numeral
		}
		if got := formatPrice(x.minor, x.cur, "en"); got != want {
			t.Errorf("formatPrice(%d, %s, en) = %q, want %q", x.minor, x.cur, got, want)
		}
	}
	// A whole amount drops its fraction in every currency, as "$1,500" does: 1000 minor
	// units of BHD are one dinar, where the dashboard writes "1.000 BHD".
	if got := formatPrice(1000, "BHD", "en"); got != "1\u00a0BHD" {
		t.Errorf("formatPrice(1000, BHD, en) = %q, want one dinar", got)
	}
	if got := formatPrice(1000, "RWF", "ru"); got != "1\u00a0000\u00a0RWF" {
		t.Errorf("formatPrice(1000, RWF, ru) = %q, want 1 000 RWF", got)
	}
}
