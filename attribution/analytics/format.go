package analytics

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refedge/refedge/internal/currency"
)

// FormatCount writes n with thousands separators: 1234567 -> "1,234,567".
func FormatCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func FormatShare(n, total uint64) string {
	if total == 0 {
		return "0%"
	}
	return FormatPercent(float64(n) / float64(total))
}

func FormatPercent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

// FormatMoney writes minor units as a decimal amount with the currency's ISO 4217
// exponent (currency.Exponent): (-123456, "RUB") -> "-1,234.56 RUB", (1000, "JPY") ->
// "1,000 JPY", (1000, "BHD") -> "1.000 BHD".
func FormatMoney(v int64, cur string) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	exp := currency.Exponent(cur)
	div := uint64(1)
	for range exp {
		div *= 10
	}
	s := FormatCount(u / div)
	if exp > 0 {
		frac := strconv.FormatUint(u%div, 10)
		s += "." + strings.Repeat("0", exp-len(frac)) + frac
	}
	if neg {
		s = "-" + s
	}
	return s + " " + cur
}

func FormatMoneyMap(m map[string]int64) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, FormatMoney(m[c], c))
	}
	return strings.Join(parts, ", ")
}

func FormatDate(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}
