package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/envvar"
)

// Config configures partner analytics. The zero value of every limit takes the
// default written on its field; Conn and DB are required.
type Config struct {
	// Conn is the ClickHouse connection analytics queries use. Give it its own pool
	// (OpenClickHouse) so a slow dashboard never queues behind event inserts.
	Conn driver.Conn
	// DB is the ClickHouse database holding the tables (default "refedge" is not
	// assumed: it is required).
	DB string
	// ClickHouseDSN and Pool are how OpenClickHouse opens Conn: another DSN than the
	// events' (for example a read-only user) and the most connections (0 means 4).
	ClickHouseDSN string
	Pool          int
	// Logger receives query failures; nil means slog.Default().
	Logger *slog.Logger
	// QueryTimeout bounds one API request's queries, in Go and on the server
	// (max_execution_time); 0 means 5s. REFEDGE_ANALYTICS_TIMEOUT.
	QueryTimeout time.Duration
	// MaxRange is the longest from..to a request may ask for; 0 means 400 days.
	// REFEDGE_ANALYTICS_MAX_RANGE_DAYS.
	MaxRange time.Duration
	// MaxHourlyRange is the longest range with interval=hour; 0 means 31 days.
	MaxHourlyRange time.Duration
	// MaxConcurrent bounds analytics requests served at once; more are answered 429 at
	// once. 0 means 8. REFEDGE_ANALYTICS_MAX_CONCURRENT.
	MaxConcurrent int
	// TopN is how many rows each breakdown returns by default; 0 means 10. Requests may
	// ask for up to MaxTopN (0 means 100) with ?top=.
	TopN, MaxTopN int
	// MaxPage caps ?limit= of list endpoints (referrals, clicks); 0 means 1000.
	MaxPage int
	// MaxCSVRows caps rows of a CSV export; 0 means 100000. A cut export says so in
	// the X-Refedge-Truncated header.
	MaxCSVRows int
	// MaxRawIntervals: hours read from raw rows are filtered as ranges while they form at
	// most this many runs, else as a list of hours; 0 means 16.
	MaxRawIntervals int
	// MaxThreads is ClickHouse's max_threads for analytics queries; 0 means 1. The queries
	// read aggregates of a few thousand rows and a request runs several at once, so one
	// thread each costs the server less than its default of one per core.
	MaxThreads int
	// Sealer tunes the background sealer.
	Sealer SealerConfig
	// ASName names an autonomous system for the network breakdown (ipintel.Service's
	// ASName); nil, or "" for an AS: the row has no name. Names are never stored in
	// ClickHouse: they come from the ASN data loaded now.
	ASName func(asn uint32) string
	// Now returns the current time; nil means time.Now. Tests replace it.
	Now func() time.Time
}

// SealerConfig tunes the sealer that measures closed hours (see sealer.go).
type SealerConfig struct {
	// Disabled turns the background loop off (figures stay exact; requests read more raw
	// rows). REFEDGE_ANALYTICS_SEALER=0.
	Disabled bool
	// Interval between passes; 0 means 1 minute.
	Interval time.Duration
	// Lookback is the window every pass examines, ending Grace ago; 0 means 48 hours.
	Lookback time.Duration
	// Grace is how long after an hour ends the loop waits before sealing it; 0 means 2
	// minutes. It only saves work: sealing an hour still being written is correct.
	Grace time.Duration
	// Backfill is how far back the first pass walks, a day at a time; 0 means MaxRange.
	Backfill time.Duration
}

// NewDefaultConfig returns a config with every default filled in (Conn and DB
// left empty).
func NewDefaultConfig() Config {
	var c Config
	c.defaults()
	return c
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
	setDur(&c.QueryTimeout, 5*time.Second)
	setDur(&c.MaxRange, 400*24*time.Hour)
	setDur(&c.MaxHourlyRange, 31*24*time.Hour)
	setInt(&c.MaxConcurrent, 8)
	setInt(&c.TopN, 10)
	setInt(&c.MaxTopN, 100)
	setInt(&c.MaxPage, 1000)
	setInt(&c.MaxCSVRows, 100000)
	setInt(&c.MaxRawIntervals, 16)
	setInt(&c.MaxThreads, 1)
	setDur(&c.Sealer.Interval, time.Minute)
	setDur(&c.Sealer.Lookback, 48*time.Hour)
	setDur(&c.Sealer.Grace, 2*time.Minute)
	setDur(&c.Sealer.Backfill, c.MaxRange)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.TopN > c.MaxTopN {
		c.TopN = c.MaxTopN
	}
}

// Validate reports every problem, naming the variable or field.
func (c *Config) Validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("analytics: Conn (REFEDGE_CLICKHOUSE_DSN) is required"))
	}
	if !sink.DBNamePattern.MatchString(c.DB) {
		errs = append(errs, fmt.Errorf("analytics: DB %q is not a plain identifier", c.DB))
	}
	if c.MaxHourlyRange > c.MaxRange {
		errs = append(errs, errors.New("analytics: MaxHourlyRange exceeds MaxRange (REFEDGE_ANALYTICS_MAX_RANGE_DAYS)"))
	}
	if c.MaxRange > 3660*24*time.Hour {
		errs = append(errs, errors.New("REFEDGE_ANALYTICS_MAX_RANGE_DAYS: at most 3660"))
	}
	return errors.Join(errs...)
}

// Vars are the analytics' optional variables; LoadEnv reads them.
var Vars = envvar.Table[Config]{Part: "analytics", Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_ANALYTICS_CLICKHOUSE_DSN", Default: "", Help: "ClickHouse for partner analytics and review, for example a read-only user; empty: REFEDGE_CLICKHOUSE_DSN",
		Set: envvar.String(func(c *Config) *string { return &c.ClickHouseDSN })},
	{Name: "REFEDGE_ANALYTICS_CLICKHOUSE_POOL", Default: "4", Help: "analytics connections",
		Set: envvar.Int(func(c *Config) *int { return &c.Pool }, 1, 256)},
	{Name: "REFEDGE_ANALYTICS_TIMEOUT", Default: "5s", Help: "per-request query budget",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.QueryTimeout }, time.Millisecond, 10*time.Minute)},
	{Name: "REFEDGE_ANALYTICS_MAX_RANGE_DAYS", Default: "400", Help: "longest stats range in days", Set: func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3660 {
			return errors.New("want whole days from 1 to 3660")
		}
		c.MaxRange = time.Duration(n) * 24 * time.Hour
		if c.MaxHourlyRange == 0 && c.MaxRange < 31*24*time.Hour {
			c.MaxHourlyRange = c.MaxRange
		}
		return nil
	}},
	{Name: "REFEDGE_ANALYTICS_MAX_CONCURRENT", Default: "8", Help: "analytics requests at once; more get 429",
		Set: envvar.Int(func(c *Config) *int { return &c.MaxConcurrent }, 1, 1024)},
	{Name: "REFEDGE_ANALYTICS_SEALER", Default: "1", Help: "1 runs the background sealer of closed hours, 0 does not", Set: func(c *Config, v string) error {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want 1 or 0")
		}
		c.Sealer.Disabled = !on
		return nil
	}},
}}

// LoadEnv reads the REFEDGE_ANALYTICS_* variables that are set into c, collecting every
// problem; each message names its variable.
func (c *Config) LoadEnv(getenv func(string) string) error { return Vars.Load(c, getenv) }

// OpenClickHouse opens a connection pool of its own for analytics queries:
// c.ClickHouseDSN if set, else dsn, with at most c.Pool (default 4) connections.
func OpenClickHouse(dsn string, c *Config) (driver.Conn, string, error) {
	if c.ClickHouseDSN != "" {
		dsn = c.ClickHouseDSN
	}
	pool := c.Pool
	if pool <= 0 {
		pool = 4
	}
	opts, db, err := sink.ClickHouseOptions(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("analytics: %w", err)
	}
	opts.MaxOpenConns = pool
	opts.MaxIdleConns = pool
	opts.ConnMaxLifetime = 10 * time.Minute
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, "", fmt.Errorf("cannot open analytics ClickHouse pool: %w", err)
	}
	return conn, db, nil
}

// Analytics answers partner analytics queries.
type Analytics struct {
	Cfg    Config
	Conn   driver.Conn
	db     string
	log    *slog.Logger
	sem    chan struct{}
	sealer *sealer
}

// New validates cfg and returns an Analytics. Call Start to run the sealer and
// Stop to end it.
func New(cfg Config) (*Analytics, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Analytics{Cfg: cfg, Conn: cfg.Conn, db: cfg.DB, log: cfg.Logger, sem: make(chan struct{}, cfg.MaxConcurrent)}
	a.sealer = newSealer(a)
	return a, nil
}

// Start runs the background sealer unless it is disabled.
func (a *Analytics) Start() {
	if !a.Cfg.Sealer.Disabled {
		a.sealer.start()
	}
}

// Stop ends the sealer and waits for its current query, or for ctx.
func (a *Analytics) Stop(ctx context.Context) error { return a.sealer.stop(ctx) }

// errBusy is returned when MaxConcurrent requests are already running.
var errBusy = errors.New("too many analytics requests at once")

// acquire takes a request slot without waiting.
func (a *Analytics) Acquire() (release func(), err error) {
	select {
	case a.sem <- struct{}{}:
		return func() { <-a.sem }, nil
	default:
		analyticsRejected.Inc()
		return nil, errBusy
	}
}

// queryCtx bounds ctx by QueryTimeout and tells the server the same limit.
func (a *Analytics) queryCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return QueryCtx(ctx, a.Cfg.QueryTimeout, clickhouse.Settings{"max_threads": a.Cfg.MaxThreads})
}

// t returns the fully qualified name of table name.
func (a *Analytics) t(name string) string { return a.db + "." + name }
