package crawlers

import "bytes"

// General rules catch families of automated clients that no list keeps up with, by the
// words their User-Agents share or by a shape no browser has. Each family has a name,
// which is also the detail of the reason the tracker records ("ua:<name>"), so a
// flagged click says which rule refused it. They are heuristics: Options.NoHeuristics
// turns them off with the rest. A named list or built-in agent that also matches wins
// (its reason is "ua:crawler"); among general rules, the first occurrence in the
// User-Agent wins.

// ruleFamily is a general rule told by words: any of its tokens, matched
// case-insensitively and subject to its guard, refuses the User-Agent.
type ruleFamily struct {
	name   string
	tokens []heuristicToken
}

// Reason codes. ReasonCrawler is the reason of the list, the built-in agents and the
// generic heuristic words; the general rules have their own.
const (
	ReasonCrawler      = "ua:crawler"
	ReasonMonitor      = "ua:monitor"
	ReasonTranscoder   = "ua:transcoder"
	ReasonLowercase    = "ua:lowercase"
	ReasonKHTMLComment = "ua:khtml-comment"
	ReasonAutomation   = "ua:automation"
	ReasonPayload      = "ua:payload"
	ReasonToolToken    = "ua:tool-token"
)

var ruleFamilies = []ruleFamily{
	// Synthetic monitoring, uptime checks and load testing: services and tools that load
	// a page on a schedule or in bulk to time it, never for a reader. Their products
	// come and go; the words they use for what they do stay.
	{"monitor", []heuristicToken{
		{"uptime", 0}, {"synthetic", 0}, {"healthcheck", 0}, {"health-check", 0}, {"health check", 0},
		{"statuscake", 0}, {"status-check", 0}, {"pingdom", 0}, {"nagios", 0}, {"zabbix", 0}, {"icinga", 0},
		{"check_http", 0}, {"datadog", 0}, {"newrelic", 0}, {"new relic", 0}, {"thousandeyes", 0},
		{"dynatrace", 0}, {"ruxit", 0}, {"appdynamics", 0}, {"gtmetrix", 0}, {"site24x7", 0},
		{"hetrix", 0}, {"freshping", 0}, {"checkly", 0}, {"benchmark", 0}, {"loadtest", 0},
		{"load-test", 0}, {"load test", 0}, {"jmeter", 0}, {"gatling", 0}, {"locust", guardWordStart | guardModel},
		{"apachebench", 0}, {"siege/", guardWordStart | guardModel}, {"k6/", guardWordStart | guardModel}, {"speedcurve", 0},
		{"webpagetest", 0}, {"pagespeed", 0}, {"page speed", 0}, {"lighthouse", 0},
	}},
	// Transcoders and lite proxies fetch the page themselves and serve their own copy;
	// Google's ad-quality and light-page fetchers are among them. Opera Mini and Puffin
	// also render on a server, but for the person holding the phone, who then follows
	// the link: they are browsers and are not here.
	{"transcoder", []heuristicToken{
		{"transcod", 0}, {"weblight", 0}, {"mediapartners", 0}, {"adsbot", 0}, {"adwords", 0},
		{"web preview", 0}, {"readability", 0}, {"instapaper", 0}, {"mobilizer", 0}, {"wap proxy", 0},
		{"google-structured-data", 0}, {"feedburner", 0},
	}},
	// Test-automation and scraping frameworks, which say so when they are not hiding,
	// and snapshot builds of tools ("Sparkler/0.2.0-SNAPSHOT"): browsers ship releases.
	{"automation", []heuristicToken{
		{"selenium", 0}, {"webdriver", 0}, {"playwright", 0}, {"puppeteer", 0}, {"cypress", 0},
		{"chromedriver", 0}, {"geckodriver", 0}, {"nightmare", 0}, {"testcafe", 0}, {"katalon", 0},
		{"nightwatch", 0}, {"browserless", 0}, {"apify", 0}, {"crawlee", 0}, {"scrapingbee", 0},
		{"scraperapi", 0}, {"zyte", 0}, {"mechanize", 0}, {"httrack", 0}, {"-snapshot", 0},
		{"automation", 0}, {"robot", 0}, {"spyder", 0},
	}},
	// Security scanners put their payloads in every header, the User-Agent included:
	// SQL injection, script and template injection, Log4Shell lookups, path traversal,
	// Shellshock and shell substitution. No browser sends any of these characters.
	{"payload", []heuristicToken{
		{"${", 0}, {"{{", 0}, {"<script", 0}, {"<?", 0}, {"<%", 0}, {"<img", 0}, {"<svg", 0},
		{"javascript:", 0}, {"onerror=", 0}, {"onload=", 0}, {"alert(", 0}, {"' or ", 0}, {"\" or ", 0},
		{"'or'", 0}, {"or 1=1", 0}, {"union select", 0}, {"union all select", 0}, {"sleep(", 0},
		{"benchmark(", 0}, {"waitfor delay", 0}, {"../", 0}, {"..\\", 0}, {"/etc/passwd", 0},
		{"() {", 0}, {"$(", 0}, {"`", 0}, {"%00", 0}, {"%27", 0}, {"%3c", 0}, {"%22", 0},
		{"/bin/sh", 0}, {"/bin/bash", 0}, {"cmd.exe", 0}, {";wget", 0}, {"|wget", 0}, {"; wget", 0},
		{"';", 0},
	}},
	// HTTP libraries and command-line tools whose name a script appended to, or left in,
	// a copied browser User-Agent ("Mozilla/5.0 ... Safari/537.36 python-requests/2.31").
	{"tool-token", []heuristicToken{
		{"requests/", 0}, {"urllib", 0}, {"aiohttp", 0}, {"httpx", 0}, {"scrapy", 0}, {"axios", 0},
		{"node-fetch", 0}, {"undici", 0}, {"got/", guardWordStart}, {"go-http", 0}, {"guzzle", 0},
		{"postman", 0}, {"insomnia", 0}, {"httpie", 0}, {"powershell", 0}, {"winhttp", 0},
		{"reqwest", 0}, {"nodejs", 0}, {"node.js", 0}, {"libcurl", 0}, {"pycurl", 0}, {"httplib", 0},
		{"restsharp", 0}, {"unirest", 0}, {"faraday", 0}, {"typhoeus", 0}, {"net::http", 0},
		{"lwp::", 0}, {"mojolicious", 0}, {"wget/", 0}, {"curl/", 0}, {"libfetch", 0}, {"cpp-httplib", 0},
		{"jersey/", 0}, {"resty", 0}, {"dart:io", 0}, {"cfnetwork", 0}, {"httpunit", 0}, {"synapse", 0},
		{"indy library", 0}, {"lua-resty", 0}, {"webclient", 0}, {"urlgrabber", 0},
	}},
	// A crawler that borrows a browser's User-Agent and puts its own name inside the
	// engine comment, "(KHTML, like Gecko; Googlebot/2.1 ...)": browsers close that
	// comment right after "like Gecko".
	{"khtml-comment", []heuristicToken{
		{"like gecko;", 0}, {"like gecko,", 0},
	}},
}

// isLowercased reports whether ua was normalised to lower case by a tool: it starts with
// "mozilla/", or it names a browser engine and holds no capital letter. Every browser
// says "Mozilla/" with a capital and names products in mixed case, with one exception
// found in ua-parser-js's fixtures: WeChat's Windows client lower-cases its built-in
// browser's User-Agent ("... micromessenger/7.0.20.1781(0x6700143b) windowswechat").
func isLowercased(ua []byte, marks uint8) bool {
	if !bytes.HasPrefix(ua, []byte("mozilla/")) {
		if marks&markEngine == 0 {
			return false
		}
		for _, c := range ua {
			if 'A' <= c && c <= 'Z' {
				return false
			}
		}
	}
	return !bytes.Contains(ua, []byte("windowswechat"))
}
