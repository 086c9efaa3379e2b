// Package currency holds the one ISO 4217 minor-unit table of the product: how many
// decimal digits a currency's minor unit has. Every place that turns an amount in minor
// units into text (the partner dashboard, its charts, the widget's prices) asks Exponent;
// a page that formats money in JavaScript gets the exponent from the server, never from
// a table of its own.
package currency

// exponents lists every currency of ISO 4217 (List One) whose minor unit is not 1/100.
// Codes with no minor unit defined (XAU, XDR, ...) and unknown codes take the default
// of 2.
var exponents = map[string]int{
	// No minor unit.
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	// Thousandths.
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// Ten-thousandths (units of account).
	"CLF": 4, "UYW": 4,
}

// DefaultExponent is the exponent of every currency not in the table.
const DefaultExponent = 2

// Exponent returns the number of decimal digits of code's minor unit: 0 for JPY (an
// amount of 1000 is ¥1,000), 3 for BHD (1000 is 1.000 BHD), 2 for USD and for any code
// it does not know. code is an upper-case ISO 4217 alphabetic code.
func Exponent(code string) int {
	if e, ok := exponents[code]; ok {
		return e
	}
	return DefaultExponent
}
