package simulate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/signing"
)

// Config describes a simulated marketplace. The zero value of each count or share
// takes the default written on it.
type Config struct {
	// Brokers and Topics are where the marketplace events go.
	Brokers []string
	Topics  event.LedgerTopics
	// Keys signs the attribution cookies (the ledger must share REFEDGE_SECRET).
	Keys *signing.Keyring
	// Seed makes the world reproducible.
	Seed uint64
	// IDPrefix is put before every id, so several runs can share one ledger. Default
	// "sim-<seed>-".
	IDPrefix string
	// Start is the event time of the first fact; Days is how long the world lives.
	// Defaults 2026-01-01 UTC and 400.
	Start time.Time
	Days  int
	// Partners (default 20; one in ten is blocked, one in twenty has not confirmed their
	// email), Users (default 2000), Sellers among
	// them (default 200), Orders (default 20000).
	Partners, Users, Sellers, Orders int
	// ReferredShare of users signed up after a partner's click (default 0.6);
	// RefundShare of orders refunded (default 0.02, half of them in part); every order
	// carries paid_at, up to two weeks before completion; BonusShare of orders partly paid
	// from bonus (default 0.2, a tenth of those wholly).
	ReferredShare, RefundShare, BonusShare float64
	// Currency of every amount. Default "USD".
	Currency string
	// Rate caps events per second of wall time; 0 sends as fast as the broker takes them.
	Rate int
	// AfterPartners, if set, runs once the partners are produced and before anything
	// refers to them: the ledger must know a partner before a signup names it (in
	// production the tracker's registry already does when it sets the cookie).
	AfterPartners func(ctx context.Context) error
}

func (c *Config) defaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	deff := func(p *float64, v float64) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.IDPrefix == "" {
		c.IDPrefix = fmt.Sprintf("sim-%d-", c.Seed)
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	def(&c.Days, 400)
	def(&c.Partners, 20)
	def(&c.Users, 2000)
	def(&c.Sellers, 200)
	def(&c.Orders, 20000)
	deff(&c.ReferredShare, 0.6)
	deff(&c.RefundShare, 0.02)
	deff(&c.BonusShare, 0.2)
	if c.Currency == "" {
		c.Currency = "USD"
	}
	c.Sellers = min(c.Sellers, c.Users)
}

// Report counts what a simulation produced.
type Report struct {
	Partners, Users, Referred, Kworks, Orders, Refunds, PartialRefunds, Events int
	// MainTotal is the sum of amount_main over all orders, in minor units.
	MainTotal int64
	Elapsed   time.Duration
}

// simFact is one generated event, sent in event-time order.
type simFact struct {
	at   time.Time
	emit func(c *Core)
}

// Simulate generates a marketplace — partners, clicks, signups, kworks through
// moderation, orders paid partly from bonus, refunds — with event times spread over
// cfg.Days from cfg.Start, and produces it in event-time order.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg.defaults()
	var rep Report
	if len(cfg.Brokers) == 0 || cfg.Keys == nil {
		return rep, errors.New("simulate needs brokers and the signing keys")
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	p := cfg.IDPrefix
	day := 24 * time.Hour
	var facts []simFact
	at := func(t time.Time, f func(c *Core)) { facts = append(facts, simFact{t, f}) }

	type partner struct {
		id, user string
		n        int
	}
	partners := make([]partner, cfg.Partners)
	for i := range partners {
		pa := partner{fmt.Sprintf("%sp%d", p, i), fmt.Sprintf("%spu%d", p, i), i}
		partners[i] = pa
		at(cfg.Start, func(c *Core) { c.Register(pa.user, "", "vis-"+pa.user, cfg.Start) })
	}
	rep.Partners = len(partners)

	users := make([]string, cfg.Users)
	regAt := make([]time.Time, cfg.Users)
	span := time.Duration(cfg.Days) * day
	for i := range users {
		u := fmt.Sprintf("%su%d", p, i)
		users[i] = u
		t := cfg.Start.Add(day + time.Duration(rnd.Int64N(int64(span*3/10))))
		regAt[i] = t
		cookie := ""
		if rnd.Float64() < cfg.ReferredShare && len(partners) > 0 {
			pa := partners[rnd.IntN(len(partners))]
			clickAt := t.Add(-time.Duration(rnd.Int64N(int64(10 * day))))
			at(clickAt, func(c *Core) { cookie = c.Click(pa.id, clickAt) })
			rep.Referred++
		}
		at(t, func(c *Core) { c.Register(u, cookie, "vis-"+u, t) })
	}
	rep.Users = len(users)

	for i := 0; i < cfg.Sellers; i++ {
		seller, kw := users[i], fmt.Sprintf("%sk%d", p, i)
		t := regAt[i].Add(time.Duration(rnd.Int64N(int64(240 * day))))
		approved := rnd.Float64() < 0.9
		at(t, func(c *Core) { c.Kwork(kw, seller, "moderation", t) })
		at(t.Add(time.Hour), func(c *Core) { c.Moderate(kw, seller, approved, t.Add(time.Hour)) })
		rep.Kworks++
	}

	for i := 0; i < cfg.Orders; i++ {
		b := rnd.IntN(len(users))
		s := rnd.IntN(cfg.Sellers)
		if b == s {
			b = (b + 1) % len(users)
		}
		buyer, seller, id := users[b], users[s], fmt.Sprintf("%so%d", p, i)
		t := regAt[b].Add(time.Duration(rnd.Int64N(int64(span - span*3/10))))
		main := 500 + rnd.Int64N(200000)
		bonus := int64(0)
		if rnd.Float64() < cfg.BonusShare {
			bonus = 100 + rnd.Int64N(5000)
			if rnd.IntN(10) == 0 {
				main = 0
			}
		}
		rep.MainTotal += main
		// The buyer paid up to two weeks before the money reached the seller.
		paid := t.Add(-time.Duration(rnd.Int64N(14*24)) * time.Hour)
		o := event.OrderCompleted{OrderID: id, BuyerID: buyer, SellerID: seller, AmountMain: main, AmountBonus: bonus,
			Currency: cfg.Currency, PaidAt: &paid}
		at(t, func(c *Core) { c.OrderWith(o, t) })
		if rnd.Float64() < cfg.RefundShare {
			rt := t.Add(time.Duration(1+rnd.Int64N(30*24)) * time.Hour)
			if part := main * (1 + rnd.Int64N(9)) / 10; rnd.IntN(2) == 0 && part > 0 {
				// Half the refunds give back part of the main-balance payment.
				at(rt, func(c *Core) { c.RefundPart(id, buyer, part, rt) })
				rep.PartialRefunds++
			} else {
				at(rt, func(c *Core) { c.Refund(id, buyer, rt) })
			}
			rep.Refunds++
		}
	}
	rep.Orders = cfg.Orders

	sort.SliceStable(facts, func(i, j int) bool { return facts[i].at.Before(facts[j].at) })
	core := NewCore(cfg.Brokers, cfg.Keys, cfg.Topics)
	defer core.Close()
	start := time.Now()
	for _, pa := range partners {
		core.PartnerWith(event.PartnerUpserted{PartnerID: pa.id, UserID: pa.user, Status: simPartnerStatus(pa.n),
			EmailConfirmed: pa.n%20 != 4}, cfg.Start)
	}
	if err := core.Flush(ctx); err != nil {
		return rep, err
	}
	if cfg.AfterPartners != nil {
		if err := cfg.AfterPartners(ctx); err != nil {
			return rep, err
		}
	}
	chunk := 2000
	if cfg.Rate > 0 {
		chunk = max(1, cfg.Rate/10)
	}
	for i := 0; i < len(facts); i += chunk {
		for _, f := range facts[i:min(i+chunk, len(facts))] {
			f.emit(core)
		}
		if err := core.Flush(ctx); err != nil {
			return rep, err
		}
		if cfg.Rate > 0 {
			// Pace by wall time: the chunk is a tenth of a second's worth.
			want := start.Add(time.Duration(core.Sent()) * time.Second / time.Duration(cfg.Rate))
			if !kafkax.Sleep(ctx, time.Until(want)) {
				return rep, ctx.Err()
			}
		}
	}
	rep.Events = core.Sent()
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// simPartnerStatus blocks one partner in ten; another one in twenty has not confirmed
// their email.
func simPartnerStatus(i int) string {
	if i%10 == 9 {
		return "blocked"
	}
	return "active"
}

// Main is the `refedge simulate` subcommand: it parses args, plays a simulated
// marketplace core against the brokers, prints a summary to stdout and returns the exit
// code. It reads REFEDGE_KAFKA_BROKERS and REFEDGE_SECRET as defaults for its flags.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refedge simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	brokers := fs.String("brokers", getenv("REFEDGE_KAFKA_BROKERS"), "comma-separated Kafka brokers (default $REFEDGE_KAFKA_BROKERS)")
	secret := fs.String("secret", getenv("REFEDGE_SECRET"), "cookie signing keys, as REFEDGE_SECRET (default $REFEDGE_SECRET)")
	start := fs.String("start", "2026-01-01T00:00:00Z", "event time of the first fact (RFC 3339)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed; the same seed makes the same marketplace")
	fs.StringVar(&cfg.IDPrefix, "prefix", "", "prefix of every id (default sim-<seed>-)")
	fs.IntVar(&cfg.Days, "days", 400, "days of event time the marketplace lives")
	fs.IntVar(&cfg.Partners, "partners", 20, "partners (one in ten blocked, one in twenty with the email not confirmed)")
	fs.IntVar(&cfg.Users, "users", 2000, "users")
	fs.IntVar(&cfg.Sellers, "sellers", 200, "sellers among the users")
	fs.IntVar(&cfg.Orders, "orders", 20000, "orders")
	fs.Float64Var(&cfg.ReferredShare, "referred", 0.6, "share of users who signed up after a partner's click")
	fs.Float64Var(&cfg.RefundShare, "refunds", 0.02, "share of orders refunded (half of them in part)")
	fs.StringVar(&cfg.Currency, "currency", "USD", "ISO 4217 currency of every amount")
	fs.IntVar(&cfg.Rate, "rate", 0, "events per second of wall time; 0: as fast as possible")
	lead := fs.Duration("partner-lead", 2*time.Second, "pause after producing the partners, so a running ledger knows them before signups name them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var errs []error
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if len(cfg.Brokers) == 0 || *brokers == "embedded" {
		errs = append(errs, errors.New("-brokers (REFEDGE_KAFKA_BROKERS): want host:port of the running broker, e.g. REFEDGE_KAFKA_EMBEDDED_ADDR of refedge serve"))
	}
	var err error
	if cfg.Keys, err = signing.ParseKeyring(*secret); err != nil {
		errs = append(errs, fmt.Errorf("-secret (REFEDGE_SECRET): %w", err))
	}
	if cfg.Start, err = time.Parse(time.RFC3339, *start); err != nil {
		errs = append(errs, fmt.Errorf("-start: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "refedge simulate: %v\n", err)
		return 2
	}
	cfg.AfterPartners = func(ctx context.Context) error {
		kafkax.Sleep(ctx, *lead)
		return ctx.Err()
	}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(stderr, "refedge simulate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "simulated %d events in %s: %d partners, %d users (%d after a click), %d kworks, %d orders (main total %d %s), %d refunds (%d partial)\n",
		rep.Events, rep.Elapsed.Round(time.Millisecond), rep.Partners, rep.Users, rep.Referred, rep.Kworks, rep.Orders,
		rep.MainTotal, cfg.Currency, rep.Refunds, rep.PartialRefunds)
	return 0
}
