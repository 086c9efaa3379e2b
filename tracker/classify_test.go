package tracker

import (
	"slices"
	"strings"
	"testing"

	"github.com/refedge/refedge/attribution/event"
)

// classify sends one click with browserHeaders changed by hdr and returns the queued
// click's verdict and reasons.
func classify(t *testing.T, uri string, hdr ...string) (event.Verdict, []string) {
	t.Helper()
	q := &memQueue{}
	do(newTestEdge(t, memState(), q), uri, hdr...)
	if len(q.clicks) != 1 {
		t.Fatalf("%d clicks queued", len(q.clicks))
	}
	return q.clicks[0].Verdict, q.clicks[0].Reasons()
}

func TestClassifyHeaders(t *testing.T) {
	const uri = "https://r.example/k?ref=12345"
	f := func(want event.Verdict, reason string, hdr ...string) {
		t.Helper()
		v, reasons := classify(t, uri, append([]string{"X-Forwarded-Proto", "https"}, hdr...)...)
		if v != want || (reason != "" && !slices.Contains(reasons, reason)) || (reason == "" && len(reasons) != 0) {
			t.Errorf("headers %q: verdict %s %v, want %s with %q", hdr, v, reasons, want, reason)
		}
	}
	const (
		firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
		safari  = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
		iphone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/156.0.0.0 Mobile/15E148 Safari/604.1"
	)
	// An honest click from each family.
	f(event.Valid, "")
	f(event.Valid, "", "User-Agent", firefox, "Sec-CH-UA", "")
	f(event.Valid, "", "User-Agent", safari, "Sec-CH-UA", "", "Sec-Fetch-User", "")
	f(event.Valid, "", "User-Agent", iphone, "Sec-CH-UA", "", "Sec-Fetch-User", "")
	f(event.Valid, "", "User-Agent", safari, "Sec-CH-UA", "", "Sec-Fetch-Dest", "", "Sec-Fetch-Mode", "", "Sec-Fetch-Site", "", "Sec-Fetch-User", "")

	// Bots.
	f(event.Bot, "ua:crawler", "User-Agent", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
	f(event.Bot, "ua:crawler", "User-Agent", "TelegramBot (like TwitterBot)")
	f(event.Bot, "ua:crawler", "User-Agent", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")
	f(event.Bot, "ua:crawler", "User-Agent", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)")
	f(event.Bot, "ua:crawler", "User-Agent", "curl/8.5.0")
	f(event.Bot, "ua:empty", "User-Agent", "")
	f(event.Bot, "ua:headless", "User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36")
	f(event.Bot, "ua:headless", "Sec-CH-UA", `"HeadlessChrome";v="156"`)
	f(event.Bot, "hdr:no-accept", "Accept", "")
	f(event.Bot, "hdr:no-accept-language", "Accept-Language", "")
	f(event.Bot, "hdr:no-client-hints", "Sec-CH-UA", "")
	f(event.Bot, "hdr:no-fetch-metadata", "Sec-Fetch-Mode", "", "Sec-Fetch-Dest", "", "Sec-Fetch-User", "")

	// Hidden frames and embedded loads (Fetch Metadata).
	for _, dest := range []string{"iframe", "frame", "image", "script", "empty", "embed", "object", "style"} {
		f(event.HiddenFrame, "fetch:dest="+dest, "Sec-Fetch-Dest", dest, "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-User", "")
	}
	f(event.HiddenFrame, "fetch:prefetch", "Sec-Purpose", "prefetch")
	f(event.HiddenFrame, "fetch:prefetch", "Sec-Purpose", "prefetch;prerender")
	f(event.HiddenFrame, "fetch:prefetch", "Purpose", "prefetch")

	// Automatic redirects: no user activation from a browser that would say so.
	f(event.AutoRedirect, "fetch:no-user-activation", "Sec-Fetch-User", "")
	f(event.AutoRedirect, "fetch:no-user-activation", "User-Agent", firefox, "Sec-CH-UA", "", "Sec-Fetch-User", "")

	// Precedence: a crawler in a hidden frame is a bot first.
	f(event.Bot, "fetch:dest=iframe", "User-Agent", "Mozilla/5.0 (compatible; bingbot/2.0)", "Sec-Fetch-Dest", "iframe")
}

// A partner whose email is not confirmed gets unconfirmed_partner: after unknown and
// blocked, before every fact about the client or the click.
func TestClassifyUnconfirmedPartner(t *testing.T) {
	f := func(uri string, want event.Verdict, reasons []string, hdr ...string) {
		t.Helper()
		v, got := classify(t, uri, hdr...)
		if v != want || !slices.Equal(got, reasons) {
			t.Errorf("%s %q: %s %v, want %s %v", uri, hdr, v, got, want, reasons)
		}
	}
	f("http://r.example/k?ref=777", event.UnconfirmedPartner, []string{"partner:unconfirmed"})
	f("http://r.example/k?ref=777&gclid=1", event.UnconfirmedPartner, []string{"ad:gclid", "partner:unconfirmed"})
	f("http://r.example/k?ref=777", event.UnconfirmedPartner, []string{"ua:crawler", "partner:unconfirmed"},
		"User-Agent", "curl/8.5.0")
	f("http://r.example/k?ref=666", event.BlockedPartner, []string{"partner:blocked"})

	// The verdict's rank: below unknown and blocked, above self_referral and bot.
	for _, w := range []event.Verdict{event.UnknownPartner, event.BlockedPartner} {
		if rank[w] >= rank[event.UnconfirmedPartner] {
			t.Errorf("%s does not outrank unconfirmed_partner", w)
		}
	}
	for _, w := range []event.Verdict{event.SelfReferral, event.Bot, event.Valid} {
		if rank[w] <= rank[event.UnconfirmedPartner] {
			t.Errorf("unconfirmed_partner does not outrank %s", w)
		}
	}
}

// Every verdict has a place in the precedence list.
func TestPrecedenceCoversVerdicts(t *testing.T) {
	for _, v := range event.Verdicts() {
		if !slices.Contains(precedence[:], v) {
			t.Errorf("verdict %s is missing from precedence", v)
		}
	}
}

// TestContextAds checks that every listed parameter and referrer flags
// context_ad; organic markers do not.
func TestContextAds(t *testing.T) {
	f := func(query, referer string, want event.Verdict, reason string) {
		t.Helper()
		hdr := []string{}
		if referer != "" {
			hdr = append(hdr, "Referer", referer)
		}
		v, reasons := classify(t, "http://r.example/k?ref=12345&"+query, hdr...)
		if v != want || (reason != "" && !slices.Contains(reasons, reason)) {
			t.Errorf("query %q referer %q: %s %v, want %s %q", query, referer, v, reasons, want, reason)
		}
	}
	for _, p := range DefaultAdParams {
		f(p+"=abc123", "", event.ContextAd, "ad:"+p)
		f(strings.ToUpper(p)+"=1", "", event.ContextAd, "ad:"+p)
	}
	for _, m := range DefaultPaidMediums {
		f("utm_source=google&utm_medium="+m, "", event.ContextAd, "ad:utm_medium="+m)
	}
	for _, host := range DefaultAdReferrers {
		f("", "https://"+host+"/pagead/aclk?sa=L", event.ContextAd, "ad:referer="+host)
		f("", "https://sub."+host+"/", event.ContextAd, "ad:referer="+host)
	}
	// Organic markers and look-alikes are not ads.
	for _, q := range []string{"ysclid=lx1", "srsltid=AfmB", "fbclid=IwAR", "utm_medium=social", "utm_medium=email",
		"utm_medium=referral", "gclidx=1", "xgclid=1", "q=gclid", "utm_source=cpc"} {
		f(q, "", event.Valid, "")
	}
	for _, ref := range []string{"https://www.google.com/", "https://yandex.ru/search/?text=kwork", "https://notgoogleadservices.com/",
		"https://googleadservices.com.evil.example/", "https://t.me/channel"} {
		f("", ref, event.Valid, "")
	}
}

func TestCustomAdLists(t *testing.T) {
	q := &memQueue{}
	e, err := NewEdge(Config{Origin: testOrigin, Keys: newTestEdge(t, memState(), q).cfg.Keys,
		Quality: Quality{AdParams: []string{"my_click"}, AdReferrers: []string{"ads.example"}}}, memState(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	do(e, "http://r.example/?ref=12345&My_Click=1")
	do(e, "http://r.example/?ref=12345&gclid=1") // replaced list: gclid no longer listed
	do(e, "http://r.example/?ref=12345", "Referer", "https://x.ads.example/")
	got := []event.Verdict{q.clicks[0].Verdict, q.clicks[1].Verdict, q.clicks[2].Verdict}
	if !slices.Equal(got, []event.Verdict{event.ContextAd, event.Valid, event.ContextAd}) {
		t.Fatalf("verdicts %v", got)
	}
}
