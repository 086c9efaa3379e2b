package widget

import (
	"strconv"

	"github.com/refedge/refedge/internal/currency"
)

// texts are the frame's and builder's own words per language.
type texts struct {
	Title, Empty, NotFound, Rating string
}

var langTexts = map[string]texts{
	"en": {Title: "Kworks", Empty: "No kworks to show right now.", NotFound: "This widget is not available.", Rating: "Seller rating"},
	"ru": {Title: "Кворки", Empty: "Сейчас нечего показать.", NotFound: "Этот виджет недоступен.", Rating: "Рейтинг продавца"},
}

func textsFor(lang string) texts {
	if t, ok := langTexts[lang]; ok {
		return t
	}
	return langTexts["en"]
}

var currencySymbols = map[string]string{"USD": "$", "EUR": "€", "GBP": "£", "RUB": "₽", "UAH": "₴", "KZT": "₸", "JPY": "¥"}

// formatPrice renders minor units of cur for lang, with the fraction digits
// currency.Exponent gives: "$1,500", "$15.50", "1 500 ₽", "15,50 $", "¥1,000",
// "1.500 BHD". Whole amounts drop the fraction ("1 BHD" for 1000 minor units).
func formatPrice(minor int64, cur, lang string) string {
	var b [48]byte
	out := appendAmount(b[:0], minor, currency.Exponent(cur), lang)
	sym, ok := currencySymbols[cur]
	if !ok {
		sym = cur
	}
	if lang == "en" && ok && sym != "₽" && sym != "₴" && sym != "₸" {
		return sym + string(out)
	}
	return string(out) + "\u00a0" + sym
}

func appendAmount(dst []byte, minor int64, digits int, lang string) []byte {
	if minor < 0 {
		dst = append(dst, '-')
		minor = -minor
	}
	div := int64(1)
	for i := 0; i < digits; i++ {
		div *= 10
	}
	whole, frac := minor/div, minor%div
	group, point := byte(','), byte('.')
	if lang == "ru" {
		group, point = ' ', ','
	}
	s := strconv.FormatInt(whole, 10)
	for i := 0; i < len(s); i++ {
		if i > 0 && (len(s)-i)%3 == 0 {
			if group == ' ' {
				dst = append(dst, "\u00a0"...)
			} else {
				dst = append(dst, group)
			}
		}
		dst = append(dst, s[i])
	}
	if frac != 0 {
		dst = append(dst, point)
		f := strconv.FormatInt(frac, 10)
		for i := len(f); i < digits; i++ {
			dst = append(dst, '0')
		}
		dst = append(dst, f...)
	}
	return dst
}

// formatRating renders a 0..5 rating with one decimal, or "" for none.
func formatRating(r float64, lang string) string {
	if r <= 0 {
		return ""
	}
	s := strconv.FormatFloat(r, 'f', 1, 64)
	if lang == "ru" {
		b := []byte(s)
		for i := range b {
			if b[i] == '.' {
				b[i] = ','
			}
		}
		s = string(b)
	}
	return s
}
