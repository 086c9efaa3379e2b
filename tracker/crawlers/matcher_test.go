package crawlers

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestMatchBrowsers(t *testing.T) {
	m := newTestMatcher(t, Options{})
	f := func(ua string) {
		t.Helper()
		if rule, ok := m.Match([]byte(ua)); ok {
			t.Fatalf("browser flagged by %q: %s", rule, ua)
		}
	}
	// Desktop.
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0")
	f("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15")
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0")
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 YaBrowser/24.12.0.0 Safari/537.36")
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0")
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Vivaldi/6.7")
	f("Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko")
	// Mobile.
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")
	f("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1")
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1")
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15")
	f("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36")
	f("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0")
	f("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; Android 13; M2101K6G) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 YaBrowser/24.10.3.70.00 SA/3 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 OPR/86.0.0.0")
	f("Opera/9.80 (Android; Opera Mini/36.2.2254/119.132; U; id) Presto/2.12.423 Version/12.16")
	f("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.0.0 Mobile DuckDuckGo/5 Safari/537.36")
	f("Mozilla/5.0 (Linux; U; Android 11; en-US; RMX2193 Build/RP1A.201005.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 UCBrowser/13.6.0.1315 Mobile Safari/537.36")
	f("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36")
	// In-app browsers are people too.
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.37.109;FBBV/620134529;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5;FBRV/622093370]")
	f("Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/142.0.7444.142 Mobile Safari/537.36 Instagram 406.0.0.58.159 Android (35/15; 480dpi; 1080x2400; OPPO; CPH2557; OP573DL1; mt6833; en_MY; 822918295; IABMV/1) NV/1")
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/12.65.0.35 (like Safari/8617.2.4.10.8, panda)")
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 11_2_6 like Mac OS X) AppleWebKit/604.5.6 (KHTML, like Gecko) Mobile/15D100 Blackboard/3.6.0")
	f("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Mobile Safari/537.36 (Ecosia android@150.0.0.0)")
	f("Mozilla/5.0 (Linux; Android 12; SM-A525F Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36 YaApp_Android/23.120.1 YaSearchBrowser/23.120.1 BroPP/1.0 SA/3 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; Android 13; SM-A536B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/119.0.6045.163 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/442.0.0.33.113;]")
	f("Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36 Telegram-Android/11.5.3 (Samsung SM-S918B; Android 14; SDK 34; HIGH)")
	f("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.5")
	f("Mozilla/5.0 (Linux; Android 13; 2201117TY Build/TKQ1.221114.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36 VKAndroidApp/8.59-16944 (Android 13; SDK 33; arm64-v8a; Xiaomi 2201117TY; ru; 2400x1080)")
	f("Mozilla/5.0 (Linux; arm_64; Android 12; CPH2205) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 YaBrowser/24.1.2.86.00 SA/3 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; Android 10; HarmonyOS; ELS-NX9; HMSCore 6.13.0.302) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/114.0.5735.196 HuaweiBrowser/14.0.5.301 Mobile Safari/537.36")
	// Consoles and TVs.
	f("Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Safari/605.1.15")
	f("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager")
	// Phones whose model name contains a crawler word or a list pattern.
	f("Mozilla/5.0 (Linux; Android 4.2.2; HTC Butterfly Build/JDQ39) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/30.0.1599.92 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; Android 7.0; M bot 51 Build/NRD90M) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/56.0.2924.87 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; Android 10; CUBOT_X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36")
	f("Mozilla/5.0 (Linux; U; Android 5.1; zh-cn; 1501_M02 Build/LMY47D) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 Mobile Safari/534.30 SogouMSE,SogouMobileBrowser/5.7.9")
	f("Opera/9.80 (MAUI Runtime; Opera Mini/4.4.39008/37.8625; U; en) Presto/2.12.423 Version/12.16")
	// Feature phones.
	f("NokiaC3-00/5.0 (08.71) Profile/MIDP-2.1 Configuration/CLDC-1.1 UCWEB/2.0 (Java; U; MIDP-2.0; en-US; NokiaC3-00) U2/1.0.0 UCBrowser/9.4.1.377 U2/1.0.0 Mobile")
}

func TestMatchBots(t *testing.T) {
	m := newTestMatcher(t, Options{})
	f := func(ua, wantRule string) {
		t.Helper()
		rule, ok := m.Match([]byte(ua))
		if !ok {
			t.Fatalf("not flagged: %s", ua)
		}
		if wantRule != "" && rule != wantRule {
			t.Fatalf("flagged by %q, want %q: %s", rule, wantRule, ua)
		}
	}
	// Search and AI crawlers (list patterns, named as in the list).
	f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", `Googlebot\/`)
	f("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", `Googlebot\/`)
	f("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bingbot")
	f("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "")
	f("Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)", "")
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "")
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "")
	f("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "")
	f("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", "")
	f("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "")
	f("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)", `Sogou`)
	f("Mozilla/5.0 (compatible; Mail.RU_Bot/2.0; +http://go.mail.ru/help/robots)", "")
	// Link-preview fetchers.
	f("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "")
	f("Twitterbot/1.0", "")
	f("TelegramBot (like TwitterBot)", "")
	f("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "")
	f("Slack-ImgProxy (+https://api.slack.com/robots)", "")
	f("WhatsApp/2.23.20.0 A", "")
	f("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "")
	f("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", "")
	f("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", "")
	f("Viber", "")
	f("Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)", "")
	f("Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)", "")
	f("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)", "")
	f("Mozilla/5.0 (compatible; Pinterestbot/1.0; +https://www.pinterest.com/bot.html)", "")
	f("Mozilla/5.0 (compatible; Google-Read-Aloud; +https://support.google.com/webmasters/answer/1061943)", "")
	// Headless browsers and HTTP clients.
	f("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36", "HeadlessChrome")
	f("Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1", "PhantomJS")
	f("curl/8.5.0", "")
	f("Wget/1.21.4", "")
	f("python-requests/2.31.0", "")
	f("Go-http-client/1.1", "")
	f("Go-http-client/2.0", "")
	f("okhttp/4.12.0", "")
	f("axios/1.6.2", "")
	f("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "")
	f("Java/17.0.9", "")
	f("Apache-HttpClient/4.5.14 (Java/17.0.9)", "")
	f("libwww-perl/6.72", "")
	f("PostmanRuntime/7.36.0", "")
	f("Dalvik/2.1.0 (Linux; U; Android 13; SM-S908B Build/TP1A.220624.014)", ruleNoBrowserToken)
	// Heuristics.
	f("", ruleEmpty)
	f("   ", ruleEmpty)
	f("Mozilla/5.0", ruleNoBrowserToken)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", ruleNoBrowserToken)
	f("SomeTool/1.0", ruleNoBrowserToken)
	f("Mozilla/5.0 (compatible; Foo/1.0) AppleWebKit/537.36 (KHTML, like Gecko)", ruleCompatible)
	f("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 AcmeCrawler/1.0", tokenRulePrefix+"crawl")
	f("Mozilla/5.0 (compatible; Zzbot/1.0) AppleWebKit/537.36 (KHTML, like Gecko)", tokenRulePrefix+"bot")
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 (contact: ops@example.org)", tokenRulePrefix+"@")
	f("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Zq/1.0 (+https://zq.example/about)", tokenRulePrefix+"https://")
}

func TestMatchOptions(t *testing.T) {
	f := func(opts Options, ua string, want bool, wantRule string) {
		t.Helper()
		m := newTestMatcher(t, opts)
		rule, ok := m.Match([]byte(ua))
		if ok != want || rule != wantRule {
			t.Fatalf("Match(%q) = %q, %v; want %q, %v", ua, rule, ok, wantRule, want)
		}
	}
	custom := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 AcmeQA/2"
	f(Options{}, custom, false, "")
	f(Options{Extra: []string{`AcmeQA/\d`}}, custom, true, `AcmeQA/\d`)
	f(Options{Extra: []string{`AcmeQA`}, CacheSize: -1}, custom, true, "AcmeQA")
	f(Options{}, "bingbot/2.0", true, "bingbot")
	f(Options{Exclude: []string{"bingbot"}}, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true, tokenRulePrefix+"bot")
	f(Options{Exclude: []string{"bingbot"}, NoHeuristics: true}, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", false, "")
	f(Options{NoHeuristics: true}, "", false, "")
	f(Options{NoHeuristics: true}, "SomeTool/1.0", false, "")

	for _, bad := range []string{`(`, `a|`, `.*`} {
		if _, err := New(Options{Extra: []string{bad}}); err == nil {
			t.Fatalf("New accepted Extra pattern %q", bad)
		} else if !strings.Contains(err.Error(), "Options.Extra") {
			t.Fatalf("error %q does not name Options.Extra", err)
		}
	}
}

// TestMatchCache checks that cached verdicts equal computed ones, also when the cache
// is much smaller than the set of User-Agents and under concurrent use.
func TestMatchCache(t *testing.T) {
	plain := newTestMatcher(t, Options{CacheSize: -1})
	small := newTestMatcher(t, Options{CacheSize: 64})
	uas := readCorpus(t, "crawlers-crawlerdetect.txt.gz")[:500]
	uas = append(uas, readCorpus(t, "browsers-user-agents.txt.gz")[:500]...)
	want := make([]string, len(uas))
	for i, ua := range uas {
		rule, _ := plain.Match([]byte(ua))
		want[i] = rule
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 3; round++ {
				for i := range uas {
					j := (i*7 + g*131 + round) % len(uas)
					if rule, _ := small.Match([]byte(uas[j])); rule != want[j] {
						errs <- fmt.Errorf("cached Match(%q) = %q, want %q", uas[j], rule, want[j])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestDefault(t *testing.T) {
	m := Default()
	if m != Default() {
		t.Fatal("Default returned two matchers")
	}
	if _, ok := m.Match([]byte("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")); !ok {
		t.Fatal("Default matcher missed Googlebot")
	}
}

func TestInAndroidModel(t *testing.T) {
	f := func(ua, token string, want bool) {
		t.Helper()
		i := strings.Index(ua, token)
		if i < 0 {
			t.Fatalf("%q not in %q", token, ua)
		}
		if got := inAndroidModel([]byte(ua), i, i+len(token)); got != want {
			t.Fatalf("inAndroidModel(%q in %q) = %v, want %v", token, ua, got, want)
		}
	}
	f("Mozilla/5.0 (Linux; Android 4.2.2; HTC Butterfly Build/JDQ39) AppleWebKit", "Butterfly", true)
	f("Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) AppleWebKit", "AP3A.240617.008", true)
	f("Mozilla/5.0 (Linux; Android 7.0; M bot 51) AppleWebKit", "bot", true)
	f("Mozilla/5.0 (Linux; U; Android 4.0.4; en-us; Robot X) AppleWebKit", "bot", true)
	f("Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012; DuplexWeb-Google/1.0) AppleWebKit", "Google", false)
	f("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (compatible; Googlebot/2.1)", "bot", false)
	f("Mozilla/5.0 (Linux; Android 4.4.2; Nexus 4 Build/KOT49H; Neustar WPM) AppleWebKit", "Neustar", false)
	f("Mozilla/5.0 (compatible; Zzbot/1.0)", "bot", false)
	f("Mozilla/5.0 (Windows NT 10.0; Butterfly Build/1)", "Butterfly", false)
}
