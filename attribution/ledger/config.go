package ledger

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/internal/envvar"
)

// Config configures the referral ledger service. The zero value works: every field
// documents its default, applied by Validate.
type Config struct {
	// Rules is the program; nil means RulesFile, or rules.Default() when that is empty too.
	Rules *rules.Rules
	// RulesFile is a rules JSON file such as deploy/rules.json (REFEDGE_RULES_FILE).
	RulesFile string
	// Group prefixes the consumer groups: <Group>.partners, .users, .kworks, .orders and
	// .conversions (REFEDGE_LEDGER_GROUP). Default "refedge-ledger".
	Group string
	// Topics default to the standard names.
	Topics event.LedgerTopics
	// KeyPrefix prefixes every Redis key the ledger owns. Default "rfe:".
	KeyPrefix string
	// OrderReaders is how many members of the orders consumer group this process runs
	// (REFEDGE_LEDGER_ORDER_READERS): each takes its share of the partitions and works
	// on its own batches, as more processes would. Default 2.
	OrderReaders int
	// MaxBatch bounds the events handled together (REFEDGE_LEDGER_BATCH). Default 1000.
	MaxBatch int
	// BatchWait is how long a batch may wait to fill once its first event arrived.
	// Default 5ms.
	BatchWait time.Duration
	// ParkTTL keeps lines that wait for a user's registration or activation, and
	// refunds that came before their order, this long after their last change
	// (REFEDGE_LEDGER_PARK_TTL). Default 7 days: longer than any consumer outage we plan
	// for. A wall-clock bound on memory, not a program rule.
	ParkTTL time.Duration
	// LineTTL keeps a referral's commission lines, and orders' parties, this long after
	// their last change; a refund later than that reverses nothing
	// (REFEDGE_LEDGER_LINE_TTL). Default 2 years.
	LineTTL time.Duration
	// ProduceLease is how long an attempt to produce a batch's events holds them against
	// other attempts (a rebalance may hand the input to another consumer while the old
	// one is still producing). An attempt gives up producing before its lease ends; a
	// crashed one delays the events it held by at most this long. Default 30s.
	ProduceLease time.Duration
	// RetryMin and RetryMax bound the backoff of a batch that failed (Redis or Kafka
	// down). Defaults 100ms and 10s. A failed batch is retried until it succeeds or the
	// service stops; it is never skipped.
	RetryMin, RetryMax time.Duration
	// MirrorBatch and MirrorWait batch the ClickHouse mirror of output events.
	// Defaults 5000 and 1s.
	MirrorBatch int
	MirrorWait  time.Duration
	// SweepInterval is how often idle referrals are checked for detachment and expiry;
	// negative disables the sweeper (REFEDGE_LEDGER_SWEEP_INTERVAL). Default 1 minute.
	SweepInterval time.Duration
	// SweepLateness: the sweeper treats event time as the newest occurred_at this
	// process has consumed minus this much, to leave room for late events. Default 1h.
	SweepLateness time.Duration
}

// NewDefaultConfig returns a config with every default filled in.
func NewDefaultConfig() Config {
	var c Config
	c.defaults()
	return c
}

func (c *Config) defaults() {
	c.Topics.Defaults()
	if c.Group == "" {
		c.Group = "refedge-ledger"
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = "rfe:"
	}
	if c.OrderReaders <= 0 {
		c.OrderReaders = 2
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 5 * time.Millisecond
	}
	if c.ParkTTL <= 0 {
		c.ParkTTL = 7 * 24 * time.Hour
	}
	if c.LineTTL <= 0 {
		c.LineTTL = 2 * 365 * 24 * time.Hour
	}
	if c.ProduceLease <= 0 {
		c.ProduceLease = 30 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Second
	}
	if c.MirrorBatch <= 0 {
		c.MirrorBatch = 5000
	}
	if c.MirrorWait <= 0 {
		c.MirrorWait = time.Second
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Minute
	}
	if c.SweepLateness <= 0 {
		c.SweepLateness = time.Hour
	}
}

// Validate fills defaults, loads the rules, and checks the rest; messages name the
// environment variable where there is one.
func (c *Config) Validate() error {
	c.defaults()
	var errs []error
	if c.Rules == nil {
		if c.RulesFile != "" {
			r, err := rules.Load(c.RulesFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("REFEDGE_RULES_FILE: %w", err))
			}
			c.Rules = r
		} else {
			c.Rules = rules.Default()
		}
	}
	if c.Rules != nil {
		if err := c.Rules.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("REFEDGE_RULES_FILE: %w", err))
		}
	}
	if strings.ContainsAny(c.KeyPrefix, "{} ") {
		errs = append(errs, errors.New("ledger key prefix must not contain braces or spaces"))
	}
	if c.OrderReaders > 64 {
		errs = append(errs, errors.New("REFEDGE_LEDGER_ORDER_READERS: at most 64"))
	}
	if c.MaxBatch > 100000 {
		errs = append(errs, errors.New("REFEDGE_LEDGER_BATCH: at most 100000"))
	}
	if c.ParkTTL < time.Minute {
		errs = append(errs, errors.New("REFEDGE_LEDGER_PARK_TTL: at least 1m"))
	}
	if c.LineTTL < time.Hour {
		errs = append(errs, errors.New("REFEDGE_LEDGER_LINE_TTL: at least 1h"))
	}
	return errors.Join(errs...)
}

// Vars are the ledger's optional variables; LoadEnv reads them and Validate checks
// the result.
var Vars = envvar.Table[Config]{Part: "ledger", Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_RULES_FILE", Default: "", Help: "commission rules JSON (see deploy/rules.json); empty: the built-in default program",
		Set: envvar.String(func(c *Config) *string { return &c.RulesFile })},
	{Name: "REFEDGE_LEDGER_GROUP", Default: "refedge-ledger", Help: "prefix of the ledger's Kafka consumer groups",
		Set: envvar.String(func(c *Config) *string { return &c.Group })},
	{Name: "REFEDGE_LEDGER_BATCH", Default: "1000", Help: "events the ledger handles per batch",
		Set: envvar.Int(func(c *Config) *int { return &c.MaxBatch }, 1, 100000)},
	{Name: "REFEDGE_LEDGER_ORDER_READERS", Default: "2", Help: "members of the orders consumer group in this process",
		Set: envvar.Int(func(c *Config) *int { return &c.OrderReaders }, 1, 64)},
	{Name: "REFEDGE_LEDGER_PARK_TTL", Default: "168h", Help: "how long lines wait for a late registration or activation",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.ParkTTL }, time.Minute, 100000*time.Hour)},
	{Name: "REFEDGE_LEDGER_LINE_TTL", Default: "17520h", Help: "how long commission lines are kept for refunds",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.LineTTL }, time.Hour, 1000000*time.Hour)},
	{Name: "REFEDGE_LEDGER_SWEEP_INTERVAL", Default: "1m", Help: "how often idle referrals are detached or expired; -1s disables",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.SweepInterval }, -time.Second, 24*time.Hour)},
}}

// LoadEnv reads the ledger's variables that are set into c, collecting every problem;
// each message names its variable.
func (c *Config) LoadEnv(getenv func(string) string) error { return Vars.Load(c, getenv) }
