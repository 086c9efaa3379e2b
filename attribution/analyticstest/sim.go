package analyticstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
)

// A simulated month of one partner's traffic, written straight into the raw tables, and
// the figures the API must return for it, computed independently in Go.

type Click struct {
	ID, Partner, Verdict, Source, Creative, SubID, VisitorID, RefererHost, Device, Browser string
	TS                                                                                     time.Time
	Reasons                                                                                []string
	// Country and ASN are the client network's ("" and 0 when unknown).
	Country string
	ASN     uint32
}

// Network is a client network of the simulation: a country and an AS number.
type Network struct {
	Country string
	ASN     uint32
}

// SimNetworks are the consumer networks clicks come from, more than the dashboard's top
// rows (20), unknown ones included; SimDatacenters those of datacenter clicks.
var (
	SimNetworks = []Network{{"RU", 12389}, {"RU", 8359}, {"RU", 31213}, {"RU", 8402}, {"DE", 3320}, {"DE", 3209},
		{"US", 7922}, {"US", 7018}, {"FR", 3215}, {"GB", 2856}, {"KZ", 9198}, {"BY", 6697}, {"UA", 15895},
		{"TR", 9121}, {"IN", 55836}, {"", 0}, {"RU", 0}, {"PL", 5617}, {"IT", 3269}, {"ES", 3352}, {"NL", 1136},
		{"BR", 28573}, {"JP", 4713}, {"AM", 12297}, {"GE", 35805}}
	SimDatacenters = []Network{{"DE", 16509}, {"US", 14618}, {"DE", 24940}, {"NL", 14061}}
)

type Impression struct {
	ID, Partner, Source, Creative, Size, VisitorID string
	TS                                             time.Time
}

type Conversion struct {
	EventID, Type, Partner, UserID, OrderID, Role, Key, Currency string
	TS                                                           time.Time
	Amount                                                       int64
}

type Data struct {
	Partner string
	clicks  []Click
	imps    []Impression
	convs   []Conversion
	// Rows written a second time, as a writer retrying a batch would.
	DupClicks []Click
	dupImps   []Impression
	dupConvs  []Conversion
}

var simReasons = map[string][]string{
	"bot": {"ua:crawler"}, "hidden_frame": {"fetch:dest=iframe"}, "auto_redirect": {"fetch:no-user-activation"},
	"popunder": {"beacon:opener", "beacon:behind"}, "context_ad": {"ad:gclid"}, "duplicate": {"dup:visitor-partner"},
	"rate_limited": {"rate:ip"}, "unknown_partner": {"partner:unknown"}, "blocked_partner": {"partner:blocked"},
	"self_referral": {"self:partner-visitor"}, "unconfirmed_partner": {"partner:unconfirmed"},
}

// HostileReason is a reason code carrying markup, as a request header could inject.
const HostileReason = `zz:<b id="pwned">x</b>&amp;`

// simulate generates traffic for partner over [from, to) from seed.
func Simulate(partner string, seed uint64, from, to time.Time, clicksPerHour int) *Data {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	d := &Data{Partner: partner}
	verdicts := event.Verdicts()
	id := func(kind string) string { return fmt.Sprintf("%s-%s-%016x", kind, partner, rng.Uint64()) }
	sources := []string{"link", "widget", "banner"}
	creatives := map[string][]string{"link": {""}, "widget": {"w1", "w2", "w3"}, "banner": {"bn1", "bn2"}}
	sizes := []string{"468x60", "300x250", "728x90"}
	hosts := []string{"blog-" + partner + ".example", "news.example", "forum.example", ""}
	devices := []string{"desktop", "mobile", "tablet"}
	browsers := []string{"chrome", "firefox", "safari"}
	n := 0
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		for range rng.IntN(clicksPerHour + 1) {
			v := verdicts[rng.IntN(len(verdicts))]
			if rng.IntN(2) == 0 {
				v = event.Valid
			}
			if n < len(verdicts) { // every verdict at least once
				v = verdicts[n]
			}
			n++
			src := sources[rng.IntN(len(sources))]
			c := Click{
				ID: id("c"), Partner: partner, Verdict: v.String(), Source: src,
				Creative: creatives[src][rng.IntN(len(creatives[src]))], SubID: fmt.Sprintf("sub-%s-%d", partner, rng.IntN(4)),
				VisitorID: fmt.Sprintf("v-%s-%d", partner, rng.IntN(300)), RefererHost: hosts[rng.IntN(len(hosts))],
				Device: devices[rng.IntN(len(devices))], Browser: browsers[rng.IntN(len(browsers))],
				TS: h.Add(time.Duration(rng.IntN(3600)) * time.Second), Reasons: append([]string{}, simReasons[v.String()]...),
			}
			// Networks are skewed, as real traffic is: a few carry most clicks.
			nw := SimNetworks[min(rng.IntN(len(SimNetworks)), rng.IntN(len(SimNetworks)))]
			if v == event.Datacenter {
				nw = SimDatacenters[rng.IntN(len(SimDatacenters))]
				c.Reasons = []string{"net:datacenter", fmt.Sprintf("net:asn=%d", nw.ASN)}
			}
			c.Country, c.ASN = nw.Country, nw.ASN
			if v == event.Valid && rng.IntN(10) == 0 {
				c.Reasons = append(c.Reasons, "degraded:redis")
			}
			if n == 3 {
				c.Reasons = append(c.Reasons, HostileReason)
			}
			d.clicks = append(d.clicks, c)
			if rng.IntN(200) == 0 {
				d.DupClicks = append(d.DupClicks, c)
			}
		}
		for range rng.IntN(3 * clicksPerHour) {
			src := sources[1+rng.IntN(2)]
			im := Impression{ID: id("i"), Partner: partner, Source: src, Creative: creatives[src][rng.IntN(len(creatives[src]))],
				VisitorID: fmt.Sprintf("v-%s-%d", partner, rng.IntN(300)), TS: h.Add(time.Duration(rng.IntN(3600)) * time.Second)}
			if src == "banner" {
				im.Size = sizes[rng.IntN(len(sizes))]
			}
			d.imps = append(d.imps, im)
			if rng.IntN(400) == 0 {
				d.dupImps = append(d.dupImps, im)
			}
		}
	}
	// Referrals: a few signups a day; some activate and earn, some detach or expire.
	at := func(t time.Time) bool { return !t.Before(from) && t.Before(to) }
	conv := func(typ, user string, ts time.Time) Conversion {
		return Conversion{EventID: id("e"), Type: typ, Partner: partner, UserID: user, TS: ts}
	}
	users := 0
	for day := from; day.Before(to); day = day.Add(24 * time.Hour) {
		for range rng.IntN(4) {
			users++
			user := fmt.Sprintf("user-%s-%d", partner, users)
			reg := day.Add(time.Duration(rng.IntN(86400)) * time.Second)
			if !at(reg) {
				continue
			}
			d.convs = append(d.convs, conv(analytics.ConvAttributed, user, reg))
			switch rng.IntN(10) {
			case 0, 1:
				if t := reg.Add(time.Duration(1+rng.IntN(72)) * time.Hour); at(t) {
					d.convs = append(d.convs, conv(analytics.ConvDetached, user, t))
				}
				continue
			case 2, 3, 4, 5, 6:
			default:
				continue // stays pending
			}
			act := reg.Add(time.Duration(1+rng.IntN(96)) * time.Hour)
			if !at(act) {
				continue
			}
			d.convs = append(d.convs, conv(analytics.ConvActivated, user, act))
			for o := range 1 + rng.IntN(3) {
				ts := act.Add(time.Duration(1+rng.IntN(48)) * time.Hour)
				if !at(ts) {
					break
				}
				cur := "RUB"
				if rng.IntN(5) == 0 {
					cur = "USD"
				}
				role := []string{"buyer", "seller"}[rng.IntN(2)]
				c := conv(analytics.ConvAccrued, user, ts)
				c.OrderID, c.Role, c.Currency = fmt.Sprintf("o-%s-%d-%d", partner, users, o), role, cur
				c.Key = c.OrderID + ":" + role
				c.Amount = int64(100 + rng.IntN(100000))
				d.convs = append(d.convs, c)
				if rev := ts.Add(time.Duration(1+rng.IntN(48)) * time.Hour); rng.IntN(5) == 0 && at(rev) {
					r := conv(analytics.ConvReversed, user, rev)
					r.OrderID, r.Role, r.Currency, r.Key, r.Amount = c.OrderID, role, cur, c.Key+":reversal", -c.Amount
					d.convs = append(d.convs, r)
				}
			}
			if t := act.Add(time.Duration(100+rng.IntN(100)) * time.Hour); rng.IntN(8) == 0 && at(t) {
				d.convs = append(d.convs, conv(analytics.ConvExpired, user, t))
			}
		}
	}
	for _, c := range d.convs {
		if rng.IntN(15) == 0 {
			d.dupConvs = append(d.dupConvs, c)
		}
	}
	return d
}

// insert writes the data in batches, then the duplicated rows as a second batch.
func (d *Data) Insert(ctx context.Context, t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	InsertClicks(ctx, t, conn, db, d.clicks)
	InsertImpressions(ctx, t, conn, db, d.imps)
	InsertConversions(ctx, t, conn, db, d.convs)
	InsertClicks(ctx, t, conn, db, d.DupClicks)
	InsertImpressions(ctx, t, conn, db, d.dupImps)
	InsertConversions(ctx, t, conn, db, d.dupConvs)
}

func InsertClicks(ctx context.Context, t testing.TB, conn driver.Conn, db string, cs []Click) {
	t.Helper()
	if len(cs) == 0 {
		return
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".clicks ("+sink.ClickColumns+")")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := b.Append(c.ID, c.TS.UTC(), c.Partner, c.Verdict, c.Reasons, c.Source, c.Creative, c.SubID, c.VisitorID,
			"h-"+c.VisitorID, c.RefererHost, "/categories/design", "", c.Device, c.Browser, "Mozilla/5.0 test", c.Country, c.ASN); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func InsertImpressions(ctx context.Context, t testing.TB, conn driver.Conn, db string, ims []Impression) {
	t.Helper()
	if len(ims) == 0 {
		return
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".impressions ("+sink.ImpressionColumns+")")
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range ims {
		if err := b.Append(im.ID, im.TS.UTC(), im.Partner, im.Source, im.Creative, im.Size, "r1", im.VisitorID, "h", "", "desktop", "", uint32(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func InsertConversions(ctx context.Context, t testing.TB, conn driver.Conn, db string, cs []Conversion) {
	t.Helper()
	if len(cs) == 0 {
		return
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".conversions (event_id, ts, type, partner_id, user_id, click_id, order_id, role, idempotency_key, base_amount, rate_bp, amount, currency)")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if err := b.Append(c.EventID, c.TS.UTC(), c.Type, c.Partner, c.UserID, "", c.OrderID, c.Role, c.Key, c.Amount*10, uint32(350), c.Amount, c.Currency); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

// want is the expected answer of the API for a range, built from the generated rows.
type Want struct {
	Totals   analytics.StatsCounts
	Verdicts map[string]uint64
	Series   map[time.Time]*analytics.StatsCounts
	visitors map[time.Time]map[string]bool
	allVis   map[string]bool
	Dims     map[string]map[string]*analytics.BreakdownRow
	Sizes    map[string]uint64
	Earnings map[time.Time]map[string]analytics.EarningsAmounts
	EarnTot  map[string]analytics.EarningsAmounts
}

func (d *Data) Want(r analytics.Range) *Want {
	w := &Want{Verdicts: map[string]uint64{}, Series: map[time.Time]*analytics.StatsCounts{}, visitors: map[time.Time]map[string]bool{},
		allVis: map[string]bool{}, Dims: map[string]map[string]*analytics.BreakdownRow{}, Sizes: map[string]uint64{},
		Earnings: map[time.Time]map[string]analytics.EarningsAmounts{}, EarnTot: map[string]analytics.EarningsAmounts{}}
	w.Totals.Earnings = map[string]int64{}
	in := func(ts time.Time) bool { return !ts.Before(r.From) && ts.Before(r.To) }
	bucket := func(ts time.Time) *analytics.StatsCounts {
		b := r.Interval.Floor(ts)
		if w.Series[b] == nil {
			w.Series[b] = &analytics.StatsCounts{Earnings: map[string]int64{}}
		}
		return w.Series[b]
	}
	row := func(dim, key string) *analytics.BreakdownRow {
		if w.Dims[dim] == nil {
			w.Dims[dim] = map[string]*analytics.BreakdownRow{}
		}
		if w.Dims[dim][key] == nil {
			w.Dims[dim][key] = &analytics.BreakdownRow{Key: key, ByVerdict: map[string]uint64{}}
		}
		return w.Dims[dim][key]
	}
	for _, c := range d.clicks {
		if !in(c.TS) {
			continue
		}
		valid := c.Verdict == "valid"
		embed := valid && (c.Source == "widget" || c.Source == "banner")
		for _, s := range []*analytics.StatsCounts{bucket(c.TS), &w.Totals} {
			s.Clicks++
			if valid {
				s.Valid++
			}
			if embed {
				s.EmbedClicks++
			}
		}
		w.Verdicts[c.Verdict]++
		if valid {
			b := r.Interval.Floor(c.TS)
			if w.visitors[b] == nil {
				w.visitors[b] = map[string]bool{}
			}
			w.visitors[b][c.VisitorID] = true
			w.allVis[c.VisitorID] = true
		}
		keys := map[string][]string{"source": {c.Source}, "creative": {c.Creative}, "sub_id": {c.SubID}, "referer_host": {c.RefererHost},
			"device": {c.Device}, "browser": {c.Browser}, "reason": c.Reasons,
			"country": {c.Country}, "network": {strconv.FormatUint(uint64(c.ASN), 10)}}
		if c.Source == "widget" || c.Source == "banner" {
			keys[c.Source] = []string{c.Creative}
		}
		for dim, ks := range keys {
			for _, k := range ks {
				rw := row(dim, k)
				rw.Clicks++
				rw.ByVerdict[c.Verdict]++
				if valid {
					rw.Valid++
				} else {
					rw.Flagged++
				}
			}
		}
	}
	for _, im := range d.imps {
		if !in(im.TS) {
			continue
		}
		bucket(im.TS).Impressions++
		w.Totals.Impressions++
		row("source", im.Source).Impressions++
		row("creative", im.Creative).Impressions++
		row(im.Source, im.Creative).Impressions++
		if im.Size != "" {
			w.Sizes[im.Size]++
		}
	}
	for _, c := range d.convs {
		if !in(c.TS) {
			continue
		}
		b := r.Interval.Floor(c.TS)
		for _, s := range []*analytics.StatsCounts{bucket(c.TS), &w.Totals} {
			switch c.Type {
			case analytics.ConvAttributed:
				s.Signups++
			case analytics.ConvActivated:
				s.Activations++
			case analytics.ConvAccrued, analytics.ConvReversed:
				s.Earnings[c.Currency] += c.Amount
			}
		}
		if c.Type == analytics.ConvAccrued || c.Type == analytics.ConvReversed {
			if w.Earnings[b] == nil {
				w.Earnings[b] = map[string]analytics.EarningsAmounts{}
			}
			for _, m := range []map[string]analytics.EarningsAmounts{w.Earnings[b], w.EarnTot} {
				e := m[c.Currency]
				if c.Type == analytics.ConvAccrued {
					e.Accrued += c.Amount
					e.Accruals++
				} else {
					e.Reversed += -c.Amount
					e.Reversals++
				}
				e.Net = e.Accrued - e.Reversed
				m[c.Currency] = e
			}
		}
	}
	for b, vs := range w.visitors {
		bucket(b).UniqueVisitors = uint64(len(vs))
	}
	w.Totals.UniqueVisitors = uint64(len(w.allVis))
	for _, s := range append(mapValues(w.Series), &w.Totals) {
		analytics.FinishCounts(s)
	}
	return w
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Referral is the expected row of one referral.
type Referral struct {
	Status                       string
	Registered, Activated, Ended *time.Time
	Orders                       map[string]bool
	Earned                       map[string]int64
}

func (d *Data) WantReferrals() map[string]*Referral {
	out := map[string]*Referral{}
	minT := func(p **time.Time, t time.Time) {
		if *p == nil || t.Before(**p) {
			t := t.UTC()
			*p = &t
		}
	}
	for _, c := range d.convs {
		r := out[c.UserID]
		if r == nil {
			r = &Referral{Orders: map[string]bool{}, Earned: map[string]int64{}}
			out[c.UserID] = r
		}
		switch c.Type {
		case analytics.ConvAttributed:
			minT(&r.Registered, c.TS)
		case analytics.ConvActivated:
			minT(&r.Activated, c.TS)
		case analytics.ConvDetached, analytics.ConvExpired:
			minT(&r.Ended, c.TS)
		case analytics.ConvAccrued:
			r.Orders[c.OrderID] = true
			r.Earned[c.Currency] += c.Amount
		case analytics.ConvReversed:
			r.Earned[c.Currency] += c.Amount
		}
	}
	for _, c := range d.convs {
		r := out[c.UserID]
		switch {
		case c.Type == analytics.ConvExpired:
			r.Status = "expired"
		case c.Type == analytics.ConvDetached && r.Status != "expired":
			r.Status = "detached"
		}
	}
	for _, r := range out {
		if r.Status == "" {
			r.Status = "pending"
			if r.Activated != nil {
				r.Status = "active"
			}
		}
	}
	return out
}

// Hours returns the distinct hours of the given times, sorted.
func Hours(ts []time.Time) []time.Time {
	set := map[time.Time]bool{}
	for _, t := range ts {
		set[t.UTC().Truncate(time.Hour)] = true
	}
	out := MapKeys(set)
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func MapKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
