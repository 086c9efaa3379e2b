package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"
)

// Rules is the referral program refedge enforces (docs/commissions.md "The program, as refedge applies it"), read
// from a JSON file such as deploy/rules.json. Every rule is evaluated on an event's own
// time, and each program carries the period it is in force, so replaying old events
// applies the rules of their day.
type Rules struct {
	// Attribution decides which signups become referrals.
	Attribution AttributionRules `json:"attribution"`
	// Referral bounds a referral's life: activation window, then attachment.
	Referral ReferralRules `json:"referral"`
	// Programs pay commissions; see Program.
	Programs []Program `json:"programs"`
}

// AttributionRules configures signup attribution (program rule 2).
type AttributionRules struct {
	// Model chooses the click that attributes a signup. Only "last_click" exists: the
	// rfe_ref cookie carries the most recent valid click. Default "last_click".
	Model string `json:"model"`
	// Window is the longest time from that click to the signup. Default P30D.
	Window Period `json:"window"`
	// ClockSkew tolerates a click stamped after the signup by this much (the tracker's
	// and the core's clocks differ). Default PT5M.
	ClockSkew Period `json:"clock_skew"`
}

// ReferralRules configures a referral's life (program rule 3).
type ReferralRules struct {
	// ActivationWindow: a referral that pays for an order or gets a kwork through
	// moderation within this time of registering becomes active; otherwise it detaches.
	// Default P180D.
	ActivationWindow Period `json:"activation_window"`
	// AttachedFor: an active referral earns its partner commission until this long after
	// registration. Default P3Y.
	AttachedFor Period `json:"attached_for"`
}

// Program types.
const (
	ProgramRevenueShare = "revenue_share"
	ProgramMilestone    = "milestone"
)

// Program is one commission program. A revenue_share program pays a share of every
// order of an active referral; a milestone program pays a one-time bounty when a
// referral's billed total reaches a threshold.
type Program struct {
	// ID names the program in events and idempotency keys: [a-z0-9_]{1,32}.
	ID string `json:"id"`
	// Type is revenue_share or milestone.
	Type string `json:"type"`
	// Disabled keeps a program in the file without applying it.
	Disabled bool `json:"disabled,omitempty"`
	// From and Until bound the event times the program applies to: From <= t < Until.
	// Either may be omitted (no bound).
	From  *time.Time `json:"from,omitempty"`
	Until *time.Time `json:"until,omitempty"`

	// BuyerRateBP is paid to whoever referred the buyer, in basis points of the amount
	// the buyer paid from the main balance (revenue_share).
	BuyerRateBP uint32 `json:"buyer_rate_bp,omitempty"`
	// SellerRateBP is paid to whoever referred the seller (revenue_share).
	SellerRateBP uint32 `json:"seller_rate_bp,omitempty"`
	// Rounding turns a share into whole minor units: half_up (default), half_even or
	// floor. Applied to each commission line on its own.
	Rounding Rounding `json:"rounding,omitempty"`

	// Currency of Threshold and Bounty, ISO 4217 (milestone). Only orders in this
	// currency count towards the threshold.
	Currency string `json:"currency,omitempty"`
	// Threshold is the billed total, in minor units, that earns the bounty (milestone).
	Threshold int64 `json:"threshold,omitempty"`
	// Bounty is paid once, in minor units (milestone).
	Bounty int64 `json:"bounty,omitempty"`
	// Window: only orders this long after registration count (milestone).
	Window Period `json:"window,omitzero"`
}

// InForce reports whether the program applies to an event at t.
func (p *Program) InForce(t time.Time) bool {
	return !p.Disabled && (p.From == nil || !t.Before(*p.From)) && (p.Until == nil || t.Before(*p.Until))
}

// MaxAmount bounds every amount refedge accepts, in minor units (10^13: a hundred
// billion units of a two-decimal currency). It keeps base × rate far from int64
// overflow and totals exact in Redis scripts (whose numbers are doubles).
const MaxAmount = 10_000_000_000_000

// Default returns the default program: the same as deploy/rules.json.
func Default() *Rules {
	return &Rules{
		Attribution: AttributionRules{Model: "last_click", Window: Period{Days: 30}, ClockSkew: Period{Dur: 5 * time.Minute}},
		Referral:    ReferralRules{ActivationWindow: Period{Days: 180}, AttachedFor: Period{Years: 3}},
		Programs: []Program{
			{ID: "revenue_share", Type: ProgramRevenueShare, BuyerRateBP: 350, SellerRateBP: 250, Rounding: RoundHalfUp},
			{ID: "milestone_1000", Type: ProgramMilestone, Disabled: true, Currency: "USD",
				Threshold: 100000, Bounty: 5000, Window: Period{Years: 2}},
		},
	}
}

// Load reads a rules file and validates it.
func Load(path string) (*Rules, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read rules: %w", err)
	}
	return Parse(b)
}

// Parse decodes rules JSON (unknown fields are errors: a typo must not silently
// change a payout) and validates it.
func Parse(b []byte) (*Rules, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r Rules
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("cannot parse rules: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

var (
	programIDRE = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)
	currencyRE  = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Validate checks the rules and fills defaults for omitted fields.
func (r *Rules) Validate() error {
	var errs []error
	if r.Attribution.Model == "" {
		r.Attribution.Model = "last_click"
	}
	if r.Attribution.Model != "last_click" {
		errs = append(errs, fmt.Errorf("attribution.model %q: only last_click is supported", r.Attribution.Model))
	}
	if r.Attribution.Window.IsZero() {
		r.Attribution.Window = Period{Days: 30}
	}
	if r.Attribution.ClockSkew.IsZero() {
		r.Attribution.ClockSkew = Period{Dur: 5 * time.Minute}
	}
	if r.Referral.ActivationWindow.IsZero() {
		r.Referral.ActivationWindow = Period{Days: 180}
	}
	if r.Referral.AttachedFor.IsZero() {
		r.Referral.AttachedFor = Period{Years: 3}
	}
	for _, p := range []struct {
		name string
		v    Period
	}{{"attribution.window", r.Attribution.Window}, {"attribution.clock_skew", r.Attribution.ClockSkew},
		{"referral.activation_window", r.Referral.ActivationWindow}, {"referral.attached_for", r.Referral.AttachedFor}} {
		if p.v.Negative() {
			errs = append(errs, fmt.Errorf("%s must not be negative", p.name))
		}
	}
	seen := map[string]bool{}
	for i := range r.Programs {
		p := &r.Programs[i]
		name := fmt.Sprintf("programs[%d] (%s)", i, p.ID)
		if !programIDRE.MatchString(p.ID) {
			errs = append(errs, fmt.Errorf("%s: id must match [a-z0-9_]{1,32}", name))
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("%s: duplicate id", name))
		}
		seen[p.ID] = true
		if p.From != nil && p.Until != nil && !p.From.Before(*p.Until) {
			errs = append(errs, fmt.Errorf("%s: from must be before until", name))
		}
		switch p.Type {
		case ProgramRevenueShare:
			if p.BuyerRateBP > 10000 || p.SellerRateBP > 10000 {
				errs = append(errs, fmt.Errorf("%s: rates are basis points, at most 10000", name))
			}
			if p.Rounding == "" {
				p.Rounding = RoundHalfUp
			}
			if !p.Rounding.valid() {
				errs = append(errs, fmt.Errorf("%s: rounding must be half_up, half_even or floor", name))
			}
		case ProgramMilestone:
			if !currencyRE.MatchString(p.Currency) {
				errs = append(errs, fmt.Errorf("%s: currency must be an ISO 4217 code", name))
			}
			if p.Threshold <= 0 || p.Threshold > MaxAmount || p.Bounty <= 0 || p.Bounty > MaxAmount {
				errs = append(errs, fmt.Errorf("%s: threshold and bounty must be in 1..%d minor units", name, int64(MaxAmount)))
			}
			if p.Window.IsZero() || p.Window.Negative() {
				errs = append(errs, fmt.Errorf("%s: window must be positive", name))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: type must be revenue_share or milestone", name))
		}
	}
	// One revenue share at a time: its lines share the key order:<id>:<role>.
	for i := range r.Programs {
		for j := i + 1; j < len(r.Programs); j++ {
			a, b := &r.Programs[i], &r.Programs[j]
			if a.Type == ProgramRevenueShare && b.Type == ProgramRevenueShare && !a.Disabled && !b.Disabled && overlap(a, b) {
				errs = append(errs, fmt.Errorf("programs %s and %s: two revenue_share programs are in force at the same time", a.ID, b.ID))
			}
		}
	}
	return errors.Join(errs...)
}

func overlap(a, b *Program) bool {
	// [a.From, a.Until) and [b.From, b.Until) intersect; nil is unbounded.
	aEndsFirst := a.Until != nil && b.From != nil && !a.Until.After(*b.From)
	bEndsFirst := b.Until != nil && a.From != nil && !b.Until.After(*a.From)
	return !aEndsFirst && !bEndsFirst
}

// RevenueShareAt returns the revenue_share program in force at t, or nil.
func (r *Rules) RevenueShareAt(t time.Time) *Program {
	for i := range r.Programs {
		if p := &r.Programs[i]; p.Type == ProgramRevenueShare && p.InForce(t) {
			return p
		}
	}
	return nil
}

// Milestones returns the enabled milestone programs.
func (r *Rules) Milestones() []*Program {
	var out []*Program
	for i := range r.Programs {
		if p := &r.Programs[i]; p.Type == ProgramMilestone && !p.Disabled {
			out = append(out, p)
		}
	}
	return out
}

// Rounding names how a share becomes whole minor units.
type Rounding string

// Roundings. All work on the exact product base × rate / 10000 of one line.
const (
	// RoundHalfUp rounds to the nearest minor unit, halves up: 3.5% of 1.50 is 0.0525 → 0.05,
	// of 0.10 is 0.0035 → 0.00, of 1.00 is 0.035 → 0.04. What a partner checking with a
	// calculator expects; the default.
	RoundHalfUp Rounding = "half_up"
	// RoundHalfEven rounds to the nearest, halves to the even unit (banker's rounding).
	RoundHalfEven Rounding = "half_even"
	// RoundFloor drops the fraction: never pays a fraction of a unit not earned.
	RoundFloor Rounding = "floor"
)

func (r Rounding) valid() bool { return r == RoundHalfUp || r == RoundHalfEven || r == RoundFloor }

// ApplyRate returns base × bp / 10000 rounded as r. base must be in 0..MaxAmount and bp
// at most 10000, so the product fits an int64 with room to spare.
func ApplyRate(base int64, bp uint32, r Rounding) int64 {
	prod := base * int64(bp)
	q, rem := prod/10000, prod%10000
	switch r {
	case RoundFloor:
		return q
	case RoundHalfEven:
		if rem > 5000 || rem == 5000 && q%2 == 1 {
			q++
		}
		return q
	default:
		if rem >= 5000 {
			q++
		}
		return q
	}
}
