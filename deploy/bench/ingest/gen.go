package ingest

import (
	"encoding/base64"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

// Generator fills clicks the way the edge does, with a realistic spread: 1,000
// partners (a few big ones carry most clicks), browsers and crawlers with their
// device and browser names, landing paths with and without queries, referrers, sub
// ids, and the verdict mix of deploy/bench/mix.lua (60% valid, 15% duplicates, 15%
// bots, 10% contextual ads) plus a little rate limiting and unknown partners. One
// Generator per goroutine; it does not allocate per click.
type Generator struct {
	r   *rand.Rand
	buf []byte
	raw [16]byte
}

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), buf: make([]byte, 0, 256)}
}

type agent struct {
	ua, device, browser string
	bot                 bool
}

var agents = []agent{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "desktop", "chrome", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36 Edg/155.0.0.0", "desktop", "edge", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/154.0.0.0 YaBrowser/25.10.0.0 Safari/537.36", "desktop", "yandex", false},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Safari/605.1.15", "desktop", "safari", false},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", "desktop", "firefox", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:144.0) Gecko/20100101 Firefox/144.0", "desktop", "firefox", false},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 19_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Mobile/15E148 Safari/604.1", "mobile", "safari", false},
	{"Mozilla/5.0 (Linux; Android 15; SM-S928B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36", "mobile", "chrome", false},
	{"Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36", "mobile", "samsung", false},
	{"Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36 OPR/90.0.0.0", "mobile", "opera", false},
	{"Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/156.0.0.0 Mobile/15E148 Safari/604.1", "tablet", "chrome", false},
	{"Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/155.0.0.0 Safari/537.36", "tablet", "chrome", false},
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "desktop", "other", true},
	{"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "desktop", "other", true},
	{"TelegramBot (like TwitterBot)", "desktop", "other", true},
	{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "desktop", "other", true},
	{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "desktop", "other", true},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "desktop", "chrome", true},
	{"python-requests/2.32.3", "desktop", "other", true},
}

var (
	browsers = agents[:12]
	crawlers = agents[12:]
	pages    = []string{"/", "/categories/design", "/categories/design/logo", "/categories/writing/copywriting",
		"/categories/development/wordpress", "/categories/marketing/seo", "/categories/video/editing",
		"/k/", "/k/", "/k/", "/k/", "/land/freelance-for-business", "/partners"}
	queries = []string{"", "", "", "", "utm_source=telegram&utm_medium=post", "utm_source=vk&utm_campaign=spring",
		"sort=popular", "page=2", "q=%D0%BB%D0%BE%D0%B3%D0%BE%D1%82%D0%B8%D0%BF", "price_to=5000"}
	referers = []string{"", "blog.example", "t.me", "vk.com", "dzen.ru", "habr.com", "www.youtube.com",
		"pikabu.ru", "freelance-tips.example", "www.google.com", "yandex.ru"}
	subIDs  = []string{"", "", "", "", "", "tg-post-118", "vk-wall", "newsletter-11", "footer", "yt-desc"}
	bannerC = []string{"468x60", "728x90", "300x250", "240x400", "160x600", "88x31"}
	adKeys  = []string{"ad:gclid", "ad:yclid", "ad:utm_medium=cpc"}
	botWhy  = []string{"ua:crawler", "ua:crawler", "ua:headless", "hdr:no-accept-language", "fetch:prefetch"}
)

// Fill makes c a fresh click at now.
func (g *Generator) Fill(c *event.Click, now time.Time) {
	r := g.r
	c.ID = event.NewClickID(now)
	c.Time = now
	// Partners: a quarter of the clicks go to the 10 biggest, the rest spread over 1,000.
	p := r.IntN(1000)
	if r.IntN(4) == 0 {
		p = r.IntN(10)
	}
	g.buf = strconv.AppendInt(append(g.buf[:0], "partner-"...), int64(p), 10)
	c.SetPartner(g.buf)

	var a agent
	roll := r.IntN(100)
	switch {
	case roll < 60:
		a, c.Verdict = browsers[r.IntN(len(browsers))], event.Valid
	case roll < 75:
		a, c.Verdict = browsers[r.IntN(len(browsers))], event.Duplicate
		c.AddReason("dup:visitor-partner")
	case roll < 90:
		a, c.Verdict = crawlers[r.IntN(len(crawlers))], event.Bot
		c.AddReason(botWhy[r.IntN(len(botWhy))])
		if r.IntN(3) == 0 {
			c.AddReason("hdr:no-fetch-metadata")
		}
	case roll < 98:
		a, c.Verdict = browsers[r.IntN(len(browsers))], event.ContextAd
		c.AddReason(adKeys[r.IntN(len(adKeys))])
	case roll < 99:
		a, c.Verdict = browsers[r.IntN(len(browsers))], event.RateLimited
		c.AddReason("rate:visitor")
	default:
		a, c.Verdict = browsers[r.IntN(len(browsers))], event.UnknownPartner
		c.AddReason("partner:unknown")
	}
	c.SetUserAgent([]byte(a.ua))
	c.SetDevice(a.device)
	c.SetBrowser(a.browser)

	switch s := r.IntN(10); {
	case s < 7:
		c.SetSource([]byte("link"))
	case s < 9:
		c.SetSource([]byte("widget"))
		g.buf = strconv.AppendInt(append(g.buf[:0], "w"...), int64(p*7+r.IntN(7)), 36)
		c.SetCreative(g.buf)
	default:
		c.SetSource([]byte("banner"))
		c.SetCreative([]byte(bannerC[r.IntN(len(bannerC))]))
	}
	c.SetSubID([]byte(subIDs[r.IntN(len(subIDs))]))
	c.SetRefererHost([]byte(referers[r.IntN(len(referers))]))
	page := pages[r.IntN(len(pages))]
	g.buf = append(g.buf[:0], page...)
	if page == "/k/" {
		g.buf = strconv.AppendInt(g.buf, int64(r.IntN(2_000_000)), 10)
	}
	c.SetPath(g.buf)
	c.SetQuery([]byte(queries[r.IntN(len(queries))]))
	c.SetVisitorID(g.token())
	c.SetVisitorHash(g.token())
}

// token returns 16 random bytes in unpadded base64url, like rfe_vid and visitor hashes.
func (g *Generator) token() []byte {
	for i := 0; i < len(g.raw); i += 8 {
		v := g.r.Uint64()
		for j := 0; j < 8; j++ {
			g.raw[i+j] = byte(v >> (8 * j))
		}
	}
	g.buf = base64.RawURLEncoding.AppendEncode(g.buf[:0], g.raw[:])
	return g.buf
}
