package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/simulate"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/tracker"
)

// demoBrowsers are the User-Agents of the demo's people: desktop and phone browsers and
// the in-app browsers links shared on social networks open in.
var demoBrowsers = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 19_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 15; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/154.0.0.0 YaBrowser/26.9.0.0 Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0",
	"Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/156.0.0.0 Mobile Safari/537.36 Telegram-Android/12.1.1 (Google Pixel 9; Android 15; SDK 35; HIGH)",
}

// demoBots are the User-Agents of the demo's automated traffic.
var demoBots = []string{"curl/8.11.1", "python-requests/2.32.3", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"}

// demoNetworks are client addresses by kind: consumer ISPs (Rostelecom, MTS, Deutsche
// Telekom, Comcast) and cloud servers (AWS, Google Cloud). With the IP databases
// installed the edge knows their country and network; without, all count alike.
var demoNetworks = map[string][]string{
	"home":  {"178.64.%d.%d", "85.140.%d.%d", "73.0.%d.%d"},
	"cloud": {"3.120.%d.%d", "34.64.%d.%d"},
}

// demoTraffic is `refedge demo`: a few weeks of a partner's traffic, played through the
// real click handler (with its clock set to each click's time) into the real event
// pipelines, and the marketplace's facts that follow (partner, signups, orders, a
// refund) through the broker to the running ledger, so a fresh dashboard has figures.
func demoTraffic(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refedge demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	partner := fs.String("partner", "demo", "the partner whose traffic is played")
	partnerUser := fs.String("partner-user", "u-demo-partner", "the partner's own marketplace account")
	days := fs.Int("days", 21, "days of traffic, ending now")
	perDay := fs.Int("clicks", 40, "clicks per day")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(getenv)
	var parts *partConfigs
	if err == nil {
		parts, err = loadParts(getenv)
	}
	if err == nil && cfg.EmbeddedKafka() {
		err = errors.New("REFEDGE_KAFKA_BROKERS: name the running broker (REFEDGE_KAFKA_EMBEDDED_ADDR of refedge serve), not the embedded one")
	}
	if err != nil {
		fmt.Fprintf(stderr, "refedge demo: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx := context.Background()
	rep, err := playDemo(ctx, cfg, parts, demoPlan{partner: *partner, partnerUser: *partnerUser, days: *days, perDay: *perDay, seed: *seed})
	if err != nil {
		log.Error("refedge demo failed", "err", err)
		return 1
	}
	fmt.Fprintf(stdout, "demo traffic for %q: %d clicks (%d valid), %d impressions, %d signups, %d orders, %d refund\n",
		*partner, rep.clicks, rep.valid, rep.impressions, rep.signups, rep.orders, rep.refunds)
	return 0
}

type demoPlan struct {
	partner, partnerUser string
	days, perDay         int
	seed                 uint64
}

type demoReport struct{ clicks, valid, impressions, signups, orders, refunds int }

func playDemo(ctx context.Context, cfg *config.Config, parts *partConfigs, plan demoPlan) (rep demoReport, err error) {
	log := newLogger(cfg, io.Discard)
	c := *cfg
	c.SpoolDir = filepath.Join(cfg.SpoolDir, "demo") // never the running edge's spool
	d, err := openDeps(ctx, &c, log)
	if d != nil {
		defer d.close(log)
	}
	if err != nil {
		return rep, err
	}
	events, err := newEventPipelines(&c, parts.events, d, log, pipelineOptions{})
	if err != nil {
		return rep, err
	}
	defer events.clickWriter.Close()
	defer events.auditWriter.Close()
	defer events.stopAll(log)
	geo, err := openGeo(ctx, parts.geo, log)
	if err != nil {
		return rep, err
	}
	quality := tracker.Quality{Network: geo}
	edge, err := tracker.NewEdge(tracker.Config{Origin: c.MarketOrigin.String(), CookieDomain: c.CookieDomain, Keys: c.Keys,
		TrustedProxies: c.TrustedProxies, Quality: quality},
		&tracker.RedisState{Redis: d.redis, Quality: quality}, events.clicks, nil)
	if err != nil {
		return rep, err
	}
	var clock time.Time
	edge.Now = func() time.Time { return clock }
	handler := edge.Handler(tracker.Routes{})
	core := simulate.NewCore(d.brokers, c.Keys, event.LedgerTopics{})
	defer core.Close()

	rng := rand.New(rand.NewPCG(plan.seed, 7))
	now := time.Now().UTC()
	start := now.Truncate(24*time.Hour).AddDate(0, 0, -plan.days)
	core.PartnerWith(event.PartnerUpserted{PartnerID: plan.partner, UserID: plan.partnerUser, Status: "active", EmailConfirmed: true}, start.Add(-time.Hour))
	if err := core.Flush(ctx); err != nil {
		return rep, err
	}
	id := fmt.Sprintf("demo-%d-%d", plan.seed, now.Unix())
	var lastVid, lastIP, lastUA string
	for day := 0; day <= plan.days; day++ {
		for i := 0; i < plan.perDay; i++ {
			clock = start.AddDate(0, 0, day).Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
			if clock.After(now) {
				continue
			}
			src, sub := demoPick(rng, "link", "link", "widget", "banner"), demoPick(rng, "tg-channel", "vk-post", "blog", "")
			ua, ip, vid := demoPick(rng, demoBrowsers...), demoAddr(rng, "home"), ""
			hdr := []string{"Sec-Fetch-Dest", "document", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-User", "?1"}
			switch r := rng.IntN(100); {
			case r < 8: // a script
				ua, hdr = demoPick(rng, demoBots...), nil
			case r < 13: // a browser on a cloud server
				ip = demoAddr(rng, "cloud")
			case r < 17: // a hidden frame on the partner's page
				hdr = []string{"Sec-Fetch-Dest", "iframe", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Site", "cross-site"}
			case r < 21 && lastVid != "": // the same person again at once
				ua, ip, vid = lastUA, lastIP, lastVid
			}
			uri := fmt.Sprintf("http://refedge.local/categories/design?ref=%s&src=%s", plan.partner, src)
			if sub != "" {
				uri += "&sub=" + sub
			}
			if src == "banner" {
				uri += "&cr=summer-sale"
			}
			res := demoClick(handler, uri, ua, ip, vid, hdr)
			rep.clicks++
			lastVid, lastIP, lastUA = res.vid, ip, ua
			if src != "link" {
				rep.impressions += demoImpressions(events.impressions, plan.partner, src, clock, 3+rng.IntN(20))
			}
			if res.ref == "" {
				continue
			}
			rep.valid++
			if rng.IntN(100) >= 18 {
				continue
			}
			// A signup a little after the click; most buy within days, one order in ten
			// is refunded in part.
			rep.signups++
			user := fmt.Sprintf("%s-u%d", id, rep.signups)
			signup := clock.Add(time.Duration(5+rng.IntN(120)) * time.Minute)
			core.Register(user, res.ref, res.vid, earlier(signup, now))
			if rng.IntN(100) < 65 {
				rep.orders++
				order := fmt.Sprintf("%s-o%d", id, rep.orders)
				paid := signup.Add(time.Duration(1+rng.IntN(72)) * time.Hour)
				if paid.After(now) {
					paid = now
				}
				main := int64(50_000 + rng.IntN(40)*10_000) // minor units: 500 to 890 roubles
				core.Order(order, user, "s-1", main, int64(rng.IntN(3))*5_000, "RUB", paid)
				if rep.refunds == 0 && rep.orders >= 3 {
					rep.refunds++
					core.RefundPart(order, user, main/2, earlier(paid.Add(24*time.Hour), now))
				}
			}
		}
	}
	if err := core.Flush(ctx); err != nil {
		return rep, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return rep, errors.Join(events.impressions.Stop(sctx), events.clicks.Stop(sctx))
}

func demoPick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

func demoAddr(rng *rand.Rand, kind string) string {
	return fmt.Sprintf(demoPick(rng, demoNetworks[kind]...), rng.IntN(250)+1, rng.IntN(250)+1)
}

type demoResult struct{ vid, ref string }

// demoClick sends one click through handler as a browser behind a trusted proxy would,
// and returns the cookies it set.
func demoClick(handler fasthttp.RequestHandler, uri, ua, ip, vid string, hdr []string) demoResult {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(uri)
	req.Header.SetMethod("GET")
	req.Header.Set("User-Agent", ua)
	req.Header.Set("X-Forwarded-For", ip)
	if hdr != nil {
		req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		req.Header.Set("Accept-Language", "ru-RU,ru;q=0.9,en;q=0.8")
		req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd")
		req.Header.Set("Referer", "https://blog.example/post")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	if vid != "" {
		req.Header.SetCookie("rfe_vid", vid)
	}
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	handler(&ctx)
	var res demoResult
	ctx.Response.Header.VisitAllCookie(func(key, value []byte) {
		var ck fasthttp.Cookie
		if ck.ParseBytes(value) != nil {
			return
		}
		switch string(key) {
		case "rfe_vid":
			res.vid = string(ck.Value())
		case "rfe_ref":
			res.ref = string(ck.Value())
		}
	})
	if res.vid == "" {
		res.vid = vid
	}
	return res
}

// demoImpressions hands n views of the partner's widget or banner to the impression
// pipeline, spread over the hour before the click.
func demoImpressions(q event.ImpressionQueue, partner, src string, at time.Time, n int) int {
	sent := 0
	for i := range n {
		im := event.AcquireImpression(at.Add(-time.Duration(i) * time.Minute))
		im.SetPartner([]byte(partner))
		im.SetSource(src)
		if src == event.SourceBanner {
			im.SetCreative([]byte("summer-sale"))
			im.SetSize([]byte("300x250"))
		} else {
			im.SetCreative([]byte("design-widget"))
		}
		im.SetDevice("desktop")
		if q.Enqueue(im) == nil {
			sent++
		}
	}
	return sent
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
