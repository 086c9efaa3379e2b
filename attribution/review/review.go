package review

// Operator review (docs/review.md): partners ranked by a documented risk score over a
// period, for the people who decide sanctions. Read-only: blocking a partner stays the
// marketplace's decision and reaches refedge as partner.upserted with status blocked.
//
// Flow of one request: parse and bound the period (http.go); run five queries at
// once on ClickHouse (query.go) — the verdict mix of the period and of the
// baseline (the previous period of the same length), with beacon revocations applied;
// the reasons of flagged clicks; click-to-signup times of attributed signups; signups
// sharing a browser (rfe_vid) or a daily IP+User-Agent hash; commission concentration —
// and score and rank in Go (score.go). Every request value is a bound parameter;
// each query has a deadline in Go and on the server (max_execution_time).

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/webasset"
)

// Config configures the operator review. Conn and DB are required; zero limits
// take the defaults written on their fields.
type Config struct {
	// Conn is the ClickHouse connection; give it the analytics pool
	// (analytics.OpenClickHouse), never the event writers'.
	Conn driver.Conn
	// DB is the database holding clicks, click_revocations and conversions.
	DB string
	// Logger receives failures; nil means slog.Default().
	Logger *slog.Logger
	// QueryTimeout bounds one request's queries, in Go and on the server; 0 means 20s.
	QueryTimeout time.Duration
	// DefaultRange is the period when the request names none; 0 means 7 days.
	DefaultRange time.Duration
	// MaxRange is the longest period a request may ask for (the baseline doubles what is
	// read); 0 means 92 days.
	MaxRange time.Duration
	// ClickLookback is how far before the period a signup's click is looked up; 0 means
	// 31 days (the default attribution window plus a day).
	ClickLookback time.Duration
	// MaxConcurrent bounds review requests served at once; more are answered 429. 0
	// means 2.
	MaxConcurrent int
	// DefaultLimit and MaxLimit bound the partners a ranking lists; 0 means 100 and 1000.
	DefaultLimit, MaxLimit int
	// DefaultSamples and MaxSamples bound a drill-down's sample rows; 0 means 50 and 500.
	DefaultSamples, MaxSamples int
	// FastSignup is the click-to-signup time under which a signup counts as fast; 0
	// means 30s.
	FastSignup time.Duration
	// Now returns the current time; nil means time.Now. Tests replace it.
	Now func() time.Time
}

func (c *Config) defaults() {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	setInt := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	setDur(&c.QueryTimeout, 20*time.Second)
	setDur(&c.DefaultRange, 7*24*time.Hour)
	setDur(&c.MaxRange, 92*24*time.Hour)
	setDur(&c.ClickLookback, 31*24*time.Hour)
	setDur(&c.FastSignup, 30*time.Second)
	setInt(&c.MaxConcurrent, 2)
	setInt(&c.DefaultLimit, 100)
	setInt(&c.MaxLimit, 1000)
	setInt(&c.DefaultSamples, 50)
	setInt(&c.MaxSamples, 500)
	if c.DefaultLimit > c.MaxLimit {
		c.DefaultLimit = c.MaxLimit
	}
	if c.DefaultSamples > c.MaxSamples {
		c.DefaultSamples = c.MaxSamples
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports every problem.
func (c *Config) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("review: Conn (REFEDGE_CLICKHOUSE_DSN) is required"))
	}
	if !sink.DBNamePattern.MatchString(c.DB) {
		errs = append(errs, fmt.Errorf("review: DB %q is not a plain identifier", c.DB))
	}
	if c.DefaultRange > c.MaxRange {
		errs = append(errs, errors.New("review: DefaultRange exceeds MaxRange"))
	}
	if c.MaxRange > 400*24*time.Hour {
		errs = append(errs, errors.New("review: MaxRange above 400 days"))
	}
	return errors.Join(errs...)
}

// Review ranks partners by risk for operators.
type Review struct {
	cfg   Config
	conn  driver.Conn
	db    string
	log   *slog.Logger
	sem   chan struct{}
	pages *reviewPages
	// console, when set (NewConsole), adds the partner's referrals, orders and audit
	// trail to its page.
	console *Console
}

// New validates cfg and parses the embedded pages.
func New(cfg Config) (*Review, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pages, err := newReviewPages()
	if err != nil {
		return nil, err
	}
	return &Review{cfg: cfg, conn: cfg.Conn, db: cfg.DB, log: cfg.Logger,
		sem: make(chan struct{}, cfg.MaxConcurrent), pages: pages}, nil
}

// Period is a validated, hour-aligned [From, To) and its baseline, the previous
// period of the same length.
type Period struct {
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	BaselineFrom time.Time `json:"baseline_from"`
	BaselineTo   time.Time `json:"baseline_to"`
}

func newReviewPeriod(from, to time.Time) Period {
	return Period{From: from, To: to, BaselineFrom: from.Add(-to.Sub(from)), BaselineTo: from}
}

// Ranking is the answer of GET /admin/v1/review.
type Ranking struct {
	Period
	// ScoreVersion names the formula in docs/review.md that produced the scores.
	ScoreVersion int `json:"score_version"`
	// Sort is the order of Partners: score, or datacenter_share.
	Sort string `json:"sort"`
	// Partners lists the partners with traffic, signups or commissions in the period,
	// in Sort's order (highest first), at most Limit.
	Partners []PartnerRisk `json:"partners"`
	// Total is how many partners had activity, listed or not.
	Total int `json:"total"`
	Limit int `json:"limit"`
	// Program is the whole program's verdict mix, for comparison.
	Program Clicks `json:"program"`
}

// PartnerRisk is one partner's figures and score.
type PartnerRisk struct {
	Rank      int     `json:"rank,omitempty"`
	PartnerID string  `json:"partner_id"`
	Score     float64 `json:"score"`
	// Components are the score's parts (each capped by its weight; they sum to Score).
	Components Components `json:"components"`
	Clicks     Clicks     `json:"clicks"`
	Baseline   Clicks     `json:"baseline"`
	// Shift is the rise of the weighted flagged share over the baseline (0 when it fell).
	Shift float64 `json:"shift"`
	// BaselineFrom says what Shift compares with: "partner", or "program" when the
	// partner had no clicks in the baseline period.
	BaselineFrom string    `json:"baseline_from"`
	TopReasons   []Reason  `json:"top_reasons"`
	Signups      Signups   `json:"signups"`
	Commission   *Earnings `json:"commission,omitempty"`
	// Flags explain, in sentences, what raised the score.
	Flags []string `json:"flags"`
}

// Components are the parts of a risk score (docs/review.md).
type Components struct {
	Traffic        float64 `json:"traffic"`
	Shift          float64 `json:"shift"`
	FastSignups    float64 `json:"fast_signups"`
	SharedVisitors float64 `json:"shared_visitors"`
	Concentration  float64 `json:"concentration"`
}

// Clicks is a verdict mix (final verdicts: beacon revocations applied).
type Clicks struct {
	Total     uint64            `json:"total"`
	Flagged   uint64            `json:"flagged"`
	ByVerdict map[string]uint64 `json:"by_verdict"`
	// FlaggedShare is Flagged/Total; WeightedShare weighs each verdict by how much it
	// suggests abuse (docs/review.md).
	FlaggedShare  float64 `json:"flagged_share"`
	WeightedShare float64 `json:"weighted_share"`
	// DatacenterShare is the share of clicks from data-centre networks (verdict
	// datacenter) among all clicks; a sort key of the ranking (docs/review.md).
	DatacenterShare float64 `json:"datacenter_share"`
}

// Reason is a reason code of flagged clicks with its count.
type Reason struct {
	Code   string `json:"code"`
	Text   string `json:"text"`
	Clicks uint64 `json:"clicks"`
}

// Signups describes the partner's attributed signups in the period.
type Signups struct {
	Attributed uint64 `json:"attributed"`
	// Matched signups have their click in ClickHouse (within ClickLookback).
	Matched uint64 `json:"matched"`
	// Buckets counts matched signups by click-to-signup time: lt10s, lt30s, lt1m,
	// lt5m, lt1h, lt1d, ge1d.
	Buckets       map[string]uint64 `json:"buckets"`
	Fast          uint64            `json:"fast"`
	FastShare     float64           `json:"fast_share"`
	MedianSeconds *float64          `json:"median_seconds,omitempty"`
	// Shared signups share a browser (rfe_vid) or a daily IP+User-Agent hash with
	// another signup of the same partner.
	Shared      uint64  `json:"shared"`
	SharedShare float64 `json:"shared_share"`
	// SharedApprox is set when a group was too large to list every user; Shared is then
	// a lower bound.
	SharedApprox bool `json:"shared_approx,omitempty"`
}

// Earnings is commission concentration in the partner's main currency.
type Earnings struct {
	Currency    string `json:"currency"`
	Net         int64  `json:"net"`
	TopReferral string `json:"top_referral"`
	TopNet      int64  `json:"top_net"`
	Referrals   uint64 `json:"referrals"`
	// TopShare is TopNet/Net.
	TopShare float64 `json:"top_share"`
}

// Detail is the answer of GET /admin/v1/review/{partner}.
type Detail struct {
	Period
	ScoreVersion int         `json:"score_version"`
	Partner      PartnerRisk `json:"partner"`
	// Reasons lists every reason code of the partner's flagged clicks (up to 100).
	Reasons []Reason `json:"reasons"`
	// Samples are the newest flagged clicks (revoked ones included), at most Limit.
	Samples []ClickSample `json:"samples"`
	// FastSignups are the fastest click-to-signup times, at most Limit.
	FastSignups []FastSignup `json:"fast_signups"`
	// SharedGroups are the browsers and hashes shared by several signups, largest first.
	SharedGroups []SharedGroup `json:"shared_groups"`
	Limit        int           `json:"limit"`
}

// ClickSample is one flagged click with its final verdict and every reason.
type ClickSample struct {
	analytics.ClickSample
	// Revoked is set when the beacon re-classified the click after the redirect.
	Revoked bool `json:"revoked"`
}

// FastSignup is one attributed signup and its click.
type FastSignup struct {
	UserID   string    `json:"user_id"`
	ClickID  string    `json:"click_id"`
	ClickTS  time.Time `json:"click_ts"`
	SignupTS time.Time `json:"signup_ts"`
	Seconds  int64     `json:"seconds"`
}

// SharedGroup is a browser or hash shared by several signups of the partner.
type SharedGroup struct {
	// Kind is "visitor" (rfe_vid) or "hash" (daily IP+User-Agent hash).
	Kind string `json:"kind"`
	// Key is a prefix of the id or hash, enough to tell groups apart.
	Key   string   `json:"key"`
	Users uint64   `json:"users"`
	Some  []string `json:"some_users"`
}

var errReviewBusy = errors.New("too many review requests at once")

func (r *Review) acquire() (func(), error) {
	select {
	case r.sem <- struct{}{}:
		return func() { <-r.sem }, nil
	default:
		return nil, errReviewBusy
	}
}

// queryCtx bounds ctx by QueryTimeout and tells the server the same limit. (No
// readonly setting: a read-only ClickHouse user, as REFEDGE_ANALYTICS_CLICKHOUSE_DSN may
// name, may not change it; the review only ever sends SELECTs.)
func (r *Review) queryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return analytics.QueryCtx(ctx, r.cfg.QueryTimeout, nil)
}

// each runs q and calls fn for every row.
func (r *Review) each(ctx context.Context, q analytics.SQL, fn func(scan func(...any) error) error) error {
	qctx, cancel := r.queryCtx(ctx)
	defer cancel()
	return analytics.EachRow(qctx, r.conn, q, fn)
}

func (r *Review) t(name string) string { return r.db + "." + name }

// reviewPages are the parsed templates and static assets of the review pages.
type reviewPages struct {
	ranking, detail *template.Template
	assets          *webasset.Set
}
