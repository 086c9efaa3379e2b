package crawlers

import "bytes"

// Heuristics catch what no list names: the generic vocabulary automated clients put in
// their User-Agent, and User-Agents that do not have the shape every browser's has.
// Each was checked against the browser corpora in testdata (see TestCorpora); they are
// on by default and Options.NoHeuristics turns them off.

// guard is a set of checks a key occurrence must pass to count as a hit.
type guard uint8

const (
	// guardModel drops occurrences inside the device-model slot of an Android platform
	// comment: "HTC Butterfly", "M bot 51", "CUBOT" and build ids such as
	// "Build/AP3A.240617.008" name a phone, not an agent.
	guardModel guard = 1 << iota
	// guardWordStart needs a non-letter before the occurrence.
	guardWordStart
	// guardWordEnd needs a non-alphanumeric byte (or the end) after the occurrence.
	guardWordEnd
	// guardBot is the "bot" token: "bot", "bots" or "bot_" ending a word, and not the
	// phone brand Cubot.
	guardBot
	// guardEmail needs an e-mail domain after "@" ("crawler@example.com"), not the
	// "android@150.0" or "@calendar=" of real browsers.
	guardEmail
)

// heuristicToken is a case-insensitive word that marks an automated client.
type heuristicToken struct {
	lit   string
	guard guard
}

// heuristicTokens are the generic words of crawler and tool User-Agents. A word is here
// only if it is absent from the real-browser corpora; words that real browsers or
// their in-app variants do carry (search: YandexSearch; download: QQDownload; proxy,
// client, agent: assorted toolbars; php: FirePHP) are left out.
var heuristicTokens = []heuristicToken{
	{"bot", guardModel | guardBot},
	{"crawl", guardModel},
	{"spider", guardModel},
	{"scrap", guardModel},   // scraper, scraping
	{"fetch", guardModel},   // fetcher, Fetch API clients
	{"slurp", guardModel},   // Yahoo! Slurp and clones
	{"archiv", guardModel},  // archiver, archive.org
	{"headless", 0},         // HeadlessChrome and friends
	{"preview", guardModel}, // link-preview fetchers
	{"validator", 0},
	{"checker", 0},
	{"linkcheck", 0},
	{"monitor", guardModel}, // uptime and performance monitors
	{"analyz", 0},           // analyzer
	{"audit", guardModel},
	{"scan", guardModel}, // scanner, masscan, scanning services
	{"probe", guardModel},
	{"indexer", 0},
	{"screenshot", 0},
	{"thumbnail", 0},
	{"favicon", 0},
	{"webmaster", 0},
	{"sitemap", 0},
	{"capture", guardModel},
	{"feed", guardModel | guardWordStart}, // FeedFetcher, "Feed Reader"; not "...feed" inside words
	{"rss", guardWordStart | guardWordEnd},
	{"seo", guardWordStart},
	{"httpclient", 0},
	{"http client", 0},
	{"http-client", 0},
	{"http_request", 0},
	{"python", 0},
	{"java/", guardWordStart},
	{"perl", guardWordStart},
	{"ruby", guardWordStart},
	{"curl", guardWordStart},
	{"wget", 0},
	{"libwww", 0},
	{"okhttp", 0},
	// Contact details: crawlers name their operator ("+http://example.com/bot.html",
	// "crawler@example.com"); browsers never do.
	{"http://", 0},
	{"https://", 0},
	{"www.", guardWordStart},
	{"@", guardEmail},
}

// Structural markers. A browser's User-Agent names its engine (AppleWebKit, Gecko,
// Trident, Presto, KHTML; MSIE for old IE) or, for the legacy mobile browsers that do
// not, the browser or its Java ME profile. One with none of them is not a browser.
// "(compatible; ...)" is what Internet Explorer and Konqueror said; everything else
// that still says it is an agent imitating old IE.
const (
	markEngine uint8 = 1 << iota
	markCompatible
	markCompatibleOK
)

type marker struct {
	lit  string
	mark uint8
}

var markers = []marker{
	{"applewebkit", markEngine},
	{"gecko", markEngine},
	{"khtml", markEngine},
	{"trident", markEngine | markCompatibleOK},
	{"msie", markEngine | markCompatibleOK},
	{"presto", markEngine},
	{"opera", markEngine | markCompatibleOK},
	{"konqueror", markEngine | markCompatibleOK},
	{"ucweb", markEngine},      // UC Browser's own UA form
	{"ucbrowser", markEngine},  // ditto
	{"midp", markEngine},       // Java ME feature phones
	{"cldc", markEngine},       // ditto
	{"blackberry", markEngine}, // BlackBerry OS browser
	{"up.browser", markEngine}, // Openwave
	{"netfront", markEngine},
	{"obigo", markEngine},
	{"lynx", markEngine},
	{"elinks", markEngine},
	{"links (", markEngine},
	{"w3m/", markEngine},
	{"dillo", markEngine},
	{"(compatible", markCompatible},
}

// Names returned by Match for the heuristics.
const (
	ruleEmpty          = "heuristic:empty"
	ruleNoBrowserToken = "heuristic:no-browser-token"
	ruleCompatible     = "heuristic:compatible-not-ie"
	ruleLowercase      = "heuristic:lowercase"
	tokenRulePrefix    = "heuristic:token:"
)

// passes reports whether the occurrence ua[start:end] of a key passes guard g.
func passes(ua []byte, start, end int, g guard) bool {
	if g == 0 {
		return true
	}
	if g&guardWordStart != 0 && start > 0 && isLetter(ua[start-1]) {
		return false
	}
	if g&guardWordEnd != 0 && end < len(ua) && isAlnum(ua[end]) {
		return false
	}
	if g&guardBot != 0 {
		e := end
		if e < len(ua) && (ua[e]|0x20) == 's' {
			e++
		}
		if e < len(ua) && isAlnum(ua[e]) {
			return false
		}
		if start >= 2 && (ua[start-2]|0x20) == 'c' && (ua[start-1]|0x20) == 'u' {
			return false // Cubot phones
		}
	}
	if g&guardEmail != 0 && !emailDomainAt(ua, end) {
		return false
	}
	if g&guardModel != 0 && inAndroidModel(ua, start, end) {
		return false
	}
	return true
}

// emailDomainAt reports whether ua[i:] starts like a mail domain: a letter, letters,
// digits or hyphens, a dot and two letters.
func emailDomainAt(ua []byte, i int) bool {
	if i >= len(ua) || !isLetter(ua[i]) {
		return false
	}
	for i < len(ua) && (isAlnum(ua[i]) || ua[i] == '-') {
		i++
	}
	return i+2 < len(ua) && ua[i] == '.' && isLetter(ua[i+1]) && isLetter(ua[i+2])
}

// inAndroidModel reports whether ua[start:end] lies in the device-model slot of an
// Android platform comment, e.g. "HTC Butterfly Build/JDQ39" in
// "(Linux; Android 4.2.2; HTC Butterfly Build/JDQ39)". The slot is the ';'-separated
// part that holds "Build/", or, in comments without build ids, the part right after
// "Android N" (after the locale, if one follows) when it has no product "/version".
func inAndroidModel(ua []byte, start, end int) bool {
	open := bytes.LastIndexByte(ua[:start], '(')
	if open < 0 || bytes.IndexByte(ua[open:start], ')') >= 0 {
		return false
	}
	closing := len(ua)
	if i := bytes.IndexByte(ua[end:], ')'); i >= 0 {
		closing = end + i
	}
	if bytes.IndexByte(ua[start:end], ';') >= 0 {
		return false
	}
	comment := ua[open+1 : closing]
	if !bytes.Contains(comment, []byte("Android")) {
		return false
	}
	segStart := open + 1 + bytes.LastIndexByte(ua[open+1:start], ';') + 1
	segEnd := closing
	if i := bytes.IndexByte(ua[end:closing], ';'); i >= 0 {
		segEnd = end + i
	}
	seg := bytes.TrimSpace(ua[segStart:segEnd])
	if bytes.Contains(seg, []byte("Build/")) {
		return true
	}
	if bytes.IndexByte(seg, '/') >= 0 {
		return false
	}
	// Walk the parts before this one: the model follows "Android N" and an optional locale.
	sinceAndroid := -1
	for rest := comment[:segStart-open-1]; len(rest) > 0; {
		part := rest
		if i := bytes.IndexByte(rest, ';'); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		part = bytes.TrimSpace(part)
		switch {
		case bytes.HasPrefix(part, []byte("Android")):
			sinceAndroid = 0
		case sinceAndroid >= 0:
			if sinceAndroid == 0 && isLocale(part) {
				continue
			}
			sinceAndroid++
		}
	}
	return sinceAndroid == 0
}

// isLocale reports whether b looks like "en", "en-us" or "zh_CN".
func isLocale(b []byte) bool {
	if len(b) != 2 && len(b) != 5 {
		return false
	}
	if !isLetter(b[0]) || !isLetter(b[1]) {
		return false
	}
	return len(b) == 2 || ((b[2] == '-' || b[2] == '_') && isLetter(b[3]) && isLetter(b[4]))
}

func isLetter(c byte) bool { c |= 0x20; return 'a' <= c && c <= 'z' }
func isAlnum(c byte) bool  { return isLetter(c) || ('0' <= c && c <= '9') }
