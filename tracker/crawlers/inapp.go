package crawlers

import "bytes"

// The in-app browser rule: a link shared in a social network or a messenger opens in
// the app's own browser (a WebView or an embedded browser), which sends a full mobile
// browser User-Agent with the app's name added: "... Mobile Safari/537.36
// [FB_IAB/FB4A;FBAV/468.1.0.56.78;]", "... Mobile/15E148 MicroMessenger/8.0.49",
// "... Mobile Safari/537.36 Viber/11.9.5.8", "... MetaIAB Facebook". Those are people.
// The same apps' link-preview fetchers (facebookexternalhit, Facebot, TelegramBot,
// WhatsApp/2.x, a bare "Viber", vkShare) send short User-Agents without a browser's
// shape; they stay bots, by name in the list and the built-in agents.
//
// So the rule is: a User-Agent with the shape of a mobile or desktop WebKit browser and
// an in-app marker is a person, and the generic heuristic words an app may carry
// ("scan" in CamScanner, "monitor", "preview", ...; inAppOverridable) do not refuse it. A named agent (the list, the built-in
// agents, Options.Extra) and the general rules of rules.go still do: an automation
// framework or a payload in an in-app User-Agent is still a bot. WhatsApp has no in-app
// browser (links open in the system browser); its "WhatsApp/" User-Agent is the preview
// fetcher.

// inAppOverridable are the generic heuristic words (heuristics.go) an in-app browser's
// User-Agent may carry for an honest reason: an app's name or what it does
// ("CamScanner", "Monitor", "Preview", "FeedReader", "SEO tools", an e-mail address
// or a home page). The words that only automated clients use (bot, crawl, spider,
// scrap, slurp, headless, HTTP library and language names) still refuse it.
var inAppOverridable = map[string]bool{
	"scan": true, "monitor": true, "preview": true, "fetch": true, "capture": true,
	"feed": true, "rss": true, "analyz": true, "audit": true, "probe": true, "checker": true,
	"validator": true, "linkcheck": true, "archiv": true, "screenshot": true, "thumbnail": true,
	"favicon": true, "webmaster": true, "sitemap": true, "seo": true, "indexer": true,
	"http://": true, "https://": true, "www.": true, "@": true,
}

// inAppMarker is a token an in-app browser adds to its User-Agent, matched
// case-sensitively, and the app it names.
type inAppMarker struct {
	lit, app string
}

var inAppMarkers = []inAppMarker{
	{"FBAN/", "Facebook"}, // FBIOS, MessengerForiOS, EMA (Lite)
	{"FBAV/", "Facebook"},
	{"FB_IAB/", "Facebook"}, // FB4A, Orca-Android (Messenger)
	{"MetaIAB", "Facebook"},
	{"Instagram ", "Instagram"},
	{"Telegram-Android/", "Telegram"},
	{"Telegram/", "Telegram"}, // Telegram for macOS
	{"VKAndroidApp/", "VK"},
	{"com.vk.vkclient/", "VK"},
	{"VKClient/", "VK"},
	{"Viber/", "Viber"},
	{"OKApp", "OK"},
	{"OkApp", "OK"},
	{"OdnoklassnikiApp", "OK"},
	{"OKAndroid/", "OK"},
	{"Line/", "LINE"},
	{"MicroMessenger/", "WeChat"},
	{"WindowsWechat", "WeChat"},
	{"GSA/", "Google app"}, // also Gmail on iOS
	{"KAKAOTALK", "KakaoTalk"},
	{"Snapchat/", "Snapchat"},
	{"Pinterest/", "Pinterest"},
	{"BytedanceWebview", "TikTok"},
	{"musical_ly", "TikTok"},
	{"TwitterAndroid", "X"},
	{"YaApp_", "Yandex app"},
	{"; wv)", "Android WebView"}, // any app's WebView: scanners, mail, messengers
}

// InApp reports whether ua is an in-app browser or WebView, and which app's, by the rule
// above. It does not allocate.
func InApp(ua []byte) (app string, ok bool) {
	if !bytes.HasPrefix(ua, []byte("Mozilla/5.0 (")) || !bytes.Contains(ua, []byte("AppleWebKit/")) ||
		bytes.Contains(ua, []byte("compatible;")) {
		return "", false
	}
	for _, mk := range inAppMarkers {
		if bytes.Contains(ua, []byte(mk.lit)) {
			return mk.app, true
		}
	}
	return "", false
}
