package widget

import (
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"runtime"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
)

// Config configures the widget service. Zero values of tunables take the defaults
// documented on each field (NewDefaultConfig returns them filled in).
type Config struct {
	// Redis holds the catalog, widget configs and view de-duplication keys. Required.
	Redis redis.UniversalClient
	// Keys signs view beacons (REFEDGE_SECRET). Required.
	Keys *signing.Keyring
	// MarketOrigin is the marketplace origin (REFEDGE_MARKET_ORIGIN); every kwork URL
	// must be on it. Required.
	MarketOrigin string
	// LinkBase prefixes every card link: {LinkBase}{kwork path}?ref=...; empty means
	// MarketOrigin (production, where the front proxy routes ref= to refedge). In
	// development set it to refedge's own PublicURL.
	LinkBase string
	// PublicURL is refedge's public base URL (REFEDGE_PUBLIC_URL); the loader and the
	// embed codes point at it. Required.
	PublicURL string
	// Impressions receives viewable impressions. Required.
	Impressions event.ImpressionQueue
	// Auth authenticates the builder page (session cookie). Required.
	Auth *partnerapi.Auth
	// Partners is the partner registry; a widget of a partner that is not active renders
	// an empty state. Required.
	Partners *partners.Registry
	// TrustedProxies are the peers whose X-Forwarded-For is believed when hashing the
	// viewer for impressions (REFEDGE_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// Network looks the viewer's address up for the impression's country and ASN, as
	// the tracker does for a click (the REFEDGE_GEO_* databases); nil records "" and 0.
	Network *ipintel.Service
	// Log receives warnings; nil means slog.Default().
	Log *slog.Logger

	// CacheTTL is how long a widget config and its partner's standing are reused by
	// this process before Redis is read again; 0 means 2s. Edits and blocks take
	// effect within it on other replicas.
	CacheTTL time.Duration
	// CacheEntries bounds the widget config cache; 0 means 100000.
	CacheEntries int
	// ViewWindow is how long after a render its view beacon is accepted; 0 means 1h.
	ViewWindow time.Duration
	// MaxWidgetsPerPartner bounds one partner's widgets; 0 means 200.
	MaxWidgetsPerPartner int
	// MaxKworkIDs bounds an explicit kwork list in a widget; 0 means 24.
	MaxKworkIDs int
	// Sizes bounds custom widget sizes; zero fields take SizeLimits' defaults.
	Sizes SizeLimits
	// Images bounds uploaded kwork images; zero fields take ImageLimits' defaults.
	Images ImageLimits
	// ThumbCacheBytes bounds the in-memory thumbnail cache; 0 means 64 MiB.
	ThumbCacheBytes int64
	// ThumbWorkers bounds concurrent thumbnail renders; 0 means GOMAXPROCS.
	ThumbWorkers int
	// DrawWorkers bounds the concurrent Redis round trips that carry the frames' random
	// draws, each a pipeline of the draws waiting at that moment; 0 means 4*GOMAXPROCS.
	DrawWorkers int
	// DrawBatch bounds the draws in one pipeline; 0 means 64.
	DrawBatch int
	// ThumbWait bounds how long a thumbnail request waits for a worker before it is
	// answered 503 with Retry-After; 0 means 2s. Requests for the same thumbnail share
	// one render.
	ThumbWait time.Duration
}

// SizeLimits bounds custom widget sizes (program sizes are always accepted).
type SizeLimits struct {
	// MinWidth and MaxWidth bound a custom width in CSS pixels; 0 means 100 and 1200.
	MinWidth, MaxWidth int
	// MinHeight and MaxHeight bound a custom height; 0 means 60 and 1200.
	MinHeight, MaxHeight int
}

// ImageLimits bounds an uploaded kwork image. They are checked with image.DecodeConfig
// before the image is decoded.
type ImageLimits struct {
	// MaxBytes bounds the upload body; 0 means 5 MiB.
	MaxBytes int
	// MaxPixels bounds width*height of the source; 0 means 16 megapixels.
	MaxPixels int
	// MaxSide bounds either side of the source; 0 means 8000.
	MaxSide int
	// StoredSide is the longest side of the normalised copy kept in Redis; 0 means 640
	// (enough for the largest thumbnail at 1x).
	StoredSide int
}

// NewDefaultConfig returns a Config with every tunable at its default.
func NewDefaultConfig() Config {
	var c Config
	c.defaults()
	return c
}

func (c *Config) defaults() {
	if c.LinkBase == "" {
		c.LinkBase = c.MarketOrigin
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	setDur(&c.CacheTTL, 2*time.Second)
	setDur(&c.ViewWindow, time.Hour)
	setDur(&c.ThumbWait, 2*time.Second)
	setInt(&c.CacheEntries, 100000)
	setInt(&c.MaxWidgetsPerPartner, 200)
	setInt(&c.MaxKworkIDs, 24)
	setInt(&c.Sizes.MinWidth, 100)
	setInt(&c.Sizes.MaxWidth, 1200)
	setInt(&c.Sizes.MinHeight, 60)
	setInt(&c.Sizes.MaxHeight, 1200)
	setInt(&c.Images.MaxBytes, 5<<20)
	setInt(&c.Images.MaxPixels, 16_000_000)
	setInt(&c.Images.MaxSide, 8000)
	setInt(&c.Images.StoredSide, 640)
	setInt(&c.ThumbWorkers, runtime.GOMAXPROCS(0))
	setInt(&c.DrawWorkers, 4*runtime.GOMAXPROCS(0))
	setInt(&c.DrawBatch, 64)
	if c.ThumbCacheBytes <= 0 {
		c.ThumbCacheBytes = 64 << 20
	}
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// Vars are the widget's optional variables; LoadEnv reads them.
var Vars = envvar.Table[Config]{Part: "widget", Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_WIDGET_LINK_BASE", Default: "", Help: "base of card links, scheme://host[:port]; empty: the market origin (REFEDGE_PUBLIC_URL in dev)", Set: func(c *Config, v string) error {
		if err := checkOrigin(v); err != nil {
			return err
		}
		c.LinkBase = v
		return nil
	}},
	{Name: "REFEDGE_WIDGET_CACHE_TTL", Default: "2s", Help: "how long widget configs and partner standing are reused",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.CacheTTL }, time.Millisecond, time.Hour)},
	{Name: "REFEDGE_WIDGET_VIEW_WINDOW", Default: "1h", Help: "how long a render's view beacon is accepted",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.ViewWindow }, time.Second, 30*24*time.Hour)},
	{Name: "REFEDGE_WIDGET_MAX_PER_PARTNER", Default: "200", Help: "widgets per partner",
		Set: envvar.Int(func(c *Config) *int { return &c.MaxWidgetsPerPartner }, 1, 100000)},
	{Name: "REFEDGE_WIDGET_MAX_UPLOAD_BYTES", Default: "5242880", Help: "largest kwork image upload in bytes",
		Set: envvar.Int(func(c *Config) *int { return &c.Images.MaxBytes }, 1024, 1<<30)},
	{Name: "REFEDGE_WIDGET_MAX_PIXELS", Default: "16000000", Help: "largest kwork image width*height",
		Set: envvar.Int(func(c *Config) *int { return &c.Images.MaxPixels }, 1, 1<<30)},
	{Name: "REFEDGE_WIDGET_THUMB_CACHE_BYTES", Default: "67108864", Help: "in-memory thumbnail cache in bytes",
		Set: envvar.Int64(func(c *Config) *int64 { return &c.ThumbCacheBytes }, 1<<20, 1<<40)},
}}

// LoadEnv reads the widget's variables that are set into c, collecting every problem;
// each message names its variable.
func (c *Config) LoadEnv(getenv func(string) string) error { return Vars.Load(c, getenv) }

// Validate reports every missing or malformed field at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Redis == nil {
		errs = append(errs, errors.New("widget: Redis is required"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("widget: Keys (REFEDGE_SECRET) is required"))
	}
	if err := checkOrigin(c.MarketOrigin); err != nil {
		errs = append(errs, errors.New("widget: MarketOrigin (REFEDGE_MARKET_ORIGIN): "+err.Error()))
	}
	if err := checkOrigin(c.PublicURL); err != nil {
		errs = append(errs, errors.New("widget: PublicURL (REFEDGE_PUBLIC_URL): "+err.Error()))
	}
	if c.LinkBase != "" {
		if err := checkOrigin(c.LinkBase); err != nil {
			errs = append(errs, errors.New("widget: LinkBase (REFEDGE_WIDGET_LINK_BASE): "+err.Error()))
		}
	}
	if c.Impressions == nil {
		errs = append(errs, errors.New("widget: Impressions is required"))
	}
	if c.Auth == nil {
		errs = append(errs, errors.New("widget: Auth is required"))
	}
	if c.Partners == nil {
		errs = append(errs, errors.New("widget: Partners is required"))
	}
	if c.Sizes.MinWidth > c.Sizes.MaxWidth || c.Sizes.MinHeight > c.Sizes.MaxHeight {
		errs = append(errs, errors.New("widget: Sizes: a minimum exceeds its maximum"))
	}
	return errors.Join(errs...)
}

// checkOrigin accepts scheme://host[:port] with no path, query or credentials.
func checkOrigin(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want scheme://host[:port] with no path, query or credentials")
	}
	return nil
}

// trimOrigin drops a trailing '/' so paths can be appended.
func trimOrigin(s string) string {
	if len(s) > 0 && s[len(s)-1] == '/' {
		return s[:len(s)-1]
	}
	return s
}
