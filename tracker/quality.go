package tracker

import (
	"strings"
	"time"

	"github.com/refedge/refedge/internal/ipintel"
)

// Quality configures the traffic-quality checks. The zero value takes every default
// listed on the fields; lists replace (not extend) their defaults when set.
type Quality struct {
	// AdParams are query parameters that mark a contextual-ad click (case-insensitive).
	// Default: DefaultAdParams.
	AdParams []string
	// PaidMediums are utm_medium values that mark paid traffic. Default: DefaultPaidMediums.
	PaidMediums []string
	// AdReferrers are ad-network hosts; a Referer on one of them or a subdomain marks a
	// contextual-ad click. Default: DefaultAdReferrers.
	AdReferrers []string
	// DuplicateWindow: a visitor clicking the same partner again within it is a
	// duplicate. 0 means 1 hour.
	DuplicateWindow time.Duration
	// IPRate and IPBurst limit clicks per client IP: at most IPBurst clicks, refused
	// ones included, in any sliding span of IPBurst/IPRate minutes. 0 means 60/min and
	// 60 — generous, since offices and mobile carriers put many people behind one address.
	IPRate, IPBurst int
	// VisitorRate and VisitorBurst limit clicks per visitor the same way. 0 means 20/min
	// and 20.
	VisitorRate, VisitorBurst int
	// PartnerRate, when positive, caps clicks per partner per minute. Off by default:
	// a partner's viral post is legitimate; spikes belong to alerts and review.
	PartnerRate int
	// Network looks the client address up: its country and ASN go on the click, and a
	// data-centre network's click gets the verdict datacenter (reasons net:datacenter and
	// net:asn=<n>).
	// nil, or a service with no database and no deny list: no lookup, no country or ASN
	// recorded.
	Network *ipintel.Service
}

// Defaults for Quality's lists (docs/traffic-quality.md says where each comes from).
var (
	DefaultAdParams = []string{
		"gclid", "gbraid", "wbraid", "gad_source", "gclsrc", "dclid", // Google Ads / DV360
		"yclid", "_openstat", // Yandex.Direct
		"msclkid",             // Microsoft Advertising
		"ttclid",              // TikTok Ads
		"twclid", "li_fat_id", // X Ads, LinkedIn Ads
		"epik", "sccid", "rdt_cid", // Pinterest, Snapchat, Reddit Ads
		"vkclid", // VK Ads
	}
	DefaultPaidMediums = []string{"cpc", "ppc", "cpm", "cpv", "cpa", "paid", "paidsearch", "paid_search", "paid-search", "sem", "display", "paid_social", "paid-social"}
	DefaultAdReferrers = []string{
		"googleadservices.com", "googleads.g.doubleclick.net", "googlesyndication.com", "doubleclick.net",
		"adservice.google.com", "yabs.yandex.ru", "yabs.yandex.com", "an.yandex.ru", "direct.yandex.ru",
		"bs.yandex.ru", "ads.yandex.ru", "adfox.ru", "ads.vk.com", "ad.mail.ru", "bat.bing.com",
		"ads.tiktok.com", "ads.twitter.com", "ads.linkedin.com",
	}
)

func (q *Quality) defaults() {
	if q.AdParams == nil {
		q.AdParams = DefaultAdParams
	}
	if q.PaidMediums == nil {
		q.PaidMediums = DefaultPaidMediums
	}
	if q.AdReferrers == nil {
		q.AdReferrers = DefaultAdReferrers
	}
	if q.DuplicateWindow <= 0 {
		q.DuplicateWindow = time.Hour
	}
	if q.IPRate <= 0 {
		q.IPRate = 60
	}
	if q.IPBurst <= 0 {
		q.IPBurst = 60
	}
	if q.VisitorRate <= 0 {
		q.VisitorRate = 20
	}
	if q.VisitorBurst <= 0 {
		q.VisitorBurst = 20
	}
}

// lowerSet maps lower-cased entries to a precomputed reason, so lookups and reasons
// cost no allocation on the click path.
type lowerSet map[string]string

func newLowerSet(prefix string, entries []string) lowerSet {
	s := make(lowerSet, len(entries))
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e != "" {
			s[e] = prefix + e
		}
	}
	return s
}

// lookup returns the reason for b, compared case-insensitively, without allocating.
func (s lowerSet) lookup(b []byte) (string, bool) {
	var buf [64]byte
	if len(b) > len(buf) {
		return "", false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	r, ok := s[string(buf[:len(b)])]
	return r, ok
}

// lookupHost matches host and each of its parent domains.
func (s lowerSet) lookupHost(host []byte) (string, bool) {
	for len(host) > 0 {
		if r, ok := s.lookup(host); ok {
			return r, true
		}
		i := 0
		for i < len(host) && host[i] != '.' {
			i++
		}
		if i >= len(host)-1 {
			return "", false
		}
		host = host[i+1:]
	}
	return "", false
}
