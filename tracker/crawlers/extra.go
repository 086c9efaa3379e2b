package crawlers

// extraAgent is an automated client this package knows besides the embedded list:
// link-preview fetchers, headless browsers, HTTP libraries and monitoring or screenshot
// services. Pattern is an RE2 regexp matched case-sensitively like the list's; Samples are
// real User-Agents of the agent. An entry whose Samples the list already matches is
// redundant and skipped when the matcher is built, so the table can name everything
// the traffic-quality rules care about while the list grows.
type extraAgent struct {
	Pattern string
	Samples []string
}

func agent(pattern string, samples ...string) extraAgent {
	return extraAgent{Pattern: pattern, Samples: samples}
}

var extraAgents = []extraAgent{
	// --- Link-preview fetchers: a shared link is fetched once per chat or feed, and
	// that fetch must never count as the click it looks like.
	// Slack unfurler
	agent(`Slackbot`, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
	// Slack image proxy
	agent(`Slack-ImgProxy`, "Slack-ImgProxy (+https://api.slack.com/robots)"),
	// Telegram link preview
	agent(`TelegramBot`, "TelegramBot (like TwitterBot)"),
	// X/Twitter cards
	agent(`Twitterbot`, "Twitterbot/1.0"),
	// Facebook, Instagram, Messenger previews
	agent(`facebookexternalhit`, "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"),
	// Facebook's crawler
	agent(`Facebot`, "Facebot"),
	// WhatsApp link preview
	agent(`WhatsApp/`, "WhatsApp/2.23.20.0 A"),
	// Discord embeds
	agent(`Discordbot`, "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"),
	// LinkedIn previews
	agent(`LinkedInBot`, "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"),
	// Skype and Teams previews
	agent(`SkypeUriPreview`, "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5"),
	// Viber link preview: a User-Agent that starts with "Viber". Viber's in-app browser
	// adds "Viber/11.9.5.8" after a full browser User-Agent and is a person (inapp.go).
	agent(`^Viber`, "Viber"),
	// VK share preview
	agent(`vkShare`, "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)"),
	// Reddit previews
	agent(`redditbot`, "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)"),
	// Siri, Spotlight, iMessage
	agent(`Applebot`, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"),
	// Pinterest (its in-app browser says "Pinterest/iOS", which is a person)
	agent(`Pinterestbot|Pinterest/0\.`, "Mozilla/5.0 (compatible; Pinterestbot/1.0; +https://www.pinterest.com/bot.html)"),
	// Snapchat's own fetcher (its in-app browser is a Mozilla/5.0 UA, a person)
	agent(`^Snapchat/`, "Snapchat/10.73.5.0 (iPhone8,1; iOS 13.3; gzip)"),
	// embed service used by many CMSs
	agent(`Iframely`, "Iframely/1.3.1 (+http://iframely.com/;)"),
	// ditto
	agent(`Embedly`, "Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)"),
	// Yandex link previews
	agent(`YandexWebmaster|YandexMessenger`, "Mozilla/5.0 (compatible; YandexMessenger/1.0; +http://yandex.com/bots)"),
	// fediverse previews
	agent(`Mastodon/`, "http.rb/5.1.1 (Mastodon/4.1.2; +https://mastodon.social/)"),
	// Google's named fetchers all say Google-<Product> (Google-Read-Aloud,
	// Google-InspectionTool, Google-Ads-Overview, ...), and Duplex on the web.
	agent(`Google-[A-Z]|DuplexWeb-Google`, "Mozilla/5.0 (compatible; Google-Read-Aloud; +https://support.google.com/webmasters/answer/1061943)",
		"Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012; DuplexWeb-Google/1.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/74.0.3729.131 Mobile Safari/537.36"),
	// Older Google tools that said it inside the engine comment.
	agent(`Google (Page Speed Insights|PP Default|Keyword Suggestion|Search Console|favicon)`, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; Google Page Speed Insights) Chrome/27.0.1453 Safari/537.36"),
	// Yandex's translation proxy fetches the page itself; the reader never reaches us.
	agent(`Yandex\.Translate`, "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.97 Safari/537.36 Yandex.Translate"),

	// --- Headless and automated browsers.
	// Chrome driven by Puppeteer, Playwright or Selenium in headless mode
	agent(`HeadlessChrome`, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36"),
	// PhantomJS, the scriptable headless WebKit
	agent(`PhantomJS`, "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1"),
	// SlimerJS, PhantomJS's Gecko twin
	agent(`SlimerJS`, "Mozilla/5.0 (X11; Linux x86_64; rv:38.0) Gecko/20100101 SlimerJS/0.10.0"),
	// Zombie.js, a Node.js headless test browser
	agent(`Zombie\.js`, "Mozilla/5.0 Chrome/10.0.613.0 Safari/534.15 Zombie.js/5.0.7"),
	// HtmlUnit, the Java GUI-less browser behind many scrapers
	agent(`HtmlUnit`, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) HtmlUnit/2.70.0"),
	// jsdom fetching subresources
	agent(`jsdom/`, "Mozilla/5.0 (linux) AppleWebKit/537.36 (KHTML, like Gecko) jsdom/20.0.3"),
	// Lighthouse and PageSpeed audits
	agent(`Chrome-Lighthouse`, "Mozilla/5.0 (Linux; Android 7.0; Moto G (4)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse"),
	// WebPageTest agents (the list only knows "PTST/").
	agent(`PTST[ /]\d`, "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0; PTST 2.386) like Gecko"),
	// Page-to-image and screenshot services.
	agent(`wkhtmlto(pdf|image)|webkit2png|webscreenie|[wW]eb[tT]humb|Websnapr|mShots`, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/534.34 (KHTML, like Gecko) wkhtmltopdf Safari/534.34",
		"Mozilla/5.0 (X11; BSD Four) AppleWebKit/534.34 (KHTML, like Gecko) webkit2png Safari/534.34",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) WordPress.com mShots Safari/537.36",
		"Mozilla/5.0 (Windows NT 6.3; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/30.0.1599.69 Safari/537.36 Webthumb/2.0"),
	// Synthetic monitoring and scanning services.
	agent(`Neustar WPM|GomezAgent|Catchpoint|iplabel|Nodemeter|Observatory/\d|Rival IQ`, "Mozilla/5.0 (Windows NT 6.1; Neustar WPM) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/48.0.2564.82 Safari/537.36",
		"Mozilla/4.0 (compatible;  MSIE 5.01; GomezAgent 2.0; Windows NT)",
		"Mozilla/5.0 (iplabel; Windows NT 6.3; WOW64; rv:33.0) Gecko/20100101 Firefox/33.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:82.0) Gecko/20100101 Firefox/82.0 Observatory/82.0"),

	// --- HTTP libraries and command-line clients.
	// curl
	agent(`^curl/`, "curl/8.5.0"),
	// GNU Wget
	agent(`^[wW]get/`, "Wget/1.21.4"),
	// Python's requests, urllib, aiohttp and httpx
	agent(`python-requests|python-urllib|Python-urllib|aiohttp|^python-httpx|^httpx/`, "python-requests/2.31.0", "Python/3.11 aiohttp/3.9.1"),
	// Go's net/http default
	agent(`Go-http-client`, "Go-http-client/1.1"),
	// fasthttp's client default
	agent(`^fasthttp`, "fasthttp"),
	// OkHttp, the Android and JVM client
	agent(`okhttp`, "okhttp/4.12.0"),
	// axios (Node.js)
	agent(`^axios/`, "axios/1.6.2"),
	// node-fetch
	agent(`node-fetch`, "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"),
	// Node.js's built-in fetch (undici) and got
	agent(`^undici|^got \(`, "undici", "got (https://github.com/sindresorhus/got)"),
	// the JDK's HttpURLConnection and Apache HttpClient
	agent(`^Java/|Apache-HttpClient|Jakarta Commons-HttpClient`, "Java/17.0.9", "Apache-HttpClient/4.5.14 (Java/17.0.9)"),
	// Perl's LWP
	agent(`libwww-perl|^LWP::`, "libwww-perl/6.72"),
	// Ruby's Net::HTTP, Faraday and http.rb
	agent(`^Ruby|Faraday v|^http\.rb/`, "Faraday v2.7.11", "Ruby"),
	// PHP's Guzzle and WordPress's wp_remote_get
	agent(`GuzzleHttp|^PHP/|^WordPress/`, "GuzzleHttp/7", "WordPress/6.4.2; https://example.com"),
	// API tools: Postman, Insomnia, HTTPie
	agent(`PostmanRuntime|insomnia/|^HTTPie/`, "PostmanRuntime/7.36.0", "insomnia/2023.5.8"),
	// Dart, Deno and Bun runtimes' default clients
	agent(`^Dart/|^Deno/|^Bun/`, "Dart/3.2 (dart:io)", "Deno/1.39.0", "Bun/1.0.20"),
	// scraping frameworks
	agent(`^Scrapy|^colly`, "Scrapy/2.11.0 (+https://scrapy.org)", "colly - https://github.com/gocolly/colly"),

	// --- Office and mail clients fetching a link before (or instead of) a browser:
	// Office's hyperlink protocol discovery and Outlook's HTML renderer.
	// CrawlerDetect's device fixture counts these as people (39 of its 5,000 sampled
	// UAs); for a referral link they are the probe Office sends before it hands the link
	// to the browser, which then makes the real click.
	agent(`ms-office|MSOffice \d|Microsoft Office/|Microsoft Outlook|Outlook-Express/`, "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 10.0; WOW64; Trident/7.0; .NET4.0C; .NET4.0E; Microsoft Outlook 16.0.6001; ms-office; MSOffice 16)",
		"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Excel 16.0.13231; Pro)"),

	// --- Crawlers of search engines and tools the list lacks.
	// Daum (Kakao) search, Rambler, Alibaba's scanner, Kimono and a few link and
	// feed tools.
	agent(`Daum(oa)?[ /]\d|StackRambler|KimonoLabs|Alibaba\.Security|MapperCmd|Clarsentia|Swurl|WeLikeLinks|Reeder|imgsizer`, "Mozilla/5.0 (compatible; MSIE or Firefox mutant; not on Windows server;) Daumoa/4.0",
		"StackRambler/2.0 (MSIE incompatible)",
		"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1;Alibaba.Security.Heimdall)",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.78.2 (KHTML, like Gecko) Version/7.0.1(2.5.3) Safari(ReederForMac)"),
}
