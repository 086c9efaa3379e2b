package currency

import (
	"sort"
	"testing"
)

// iso4217 lists the currencies of ISO 4217 (List One) whose minor unit is not 1/100, by
// exponent; every other currency of the standard has 2.
var iso4217 = map[int][]string{
	0: {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"},
	3: {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"},
	4: {"CLF", "UYW"},
}

func TestExponentMatchesISO4217(t *testing.T) {
	want := map[string]int{}
	for exp, codes := range iso4217 {
		for _, c := range codes {
			want[c] = exp
			if got := Exponent(c); got != exp {
				t.Errorf("Exponent(%s) = %d, ISO 4217 says %d", c, got, exp)
			}
		}
	}
	// The table holds nothing else: a code missing from the standard's list, or listed
	// with 2, would be a hand-made exception.
	var extra []string
	for c := range exponents {
		if _, ok := want[c]; !ok {
			extra = append(extra, c)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("table lists %v, which ISO 4217 gives 2 decimals", extra)
	}
	for _, c := range []string{"USD", "EUR", "RUB", "GBP", "MRU", "MGA", "XYZ", ""} {
		if got := Exponent(c); got != 2 {
			t.Errorf("Exponent(%q) = %d, want 2", c, got)
		}
	}
}
