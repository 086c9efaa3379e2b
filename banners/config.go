package banners

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/signing"
)

// Config configures the banner service. Zero numeric fields take the default written on
// them; NewDefaultConfig also sets the folders and the built-in set.
type Config struct {
	// PublicURL is refedge's public base URL (REFEDGE_PUBLIC_URL): image URLs in embed
	// codes start with it. Required.
	PublicURL string
	// LinkBase is where embed codes link (REFEDGE_MARKET_ORIGIN in production, where
	// refedge answers every ref= request). Required.
	LinkBase string

	// MasterDir holds master creatives, one folder per creative, and receives uploads
	// (REFEDGE_BANNERS_DIR). Empty keeps uploads in memory only: they are lost at exit.
	MasterDir string
	// CacheDir keeps rendered JPEGs across restarts (REFEDGE_BANNERS_CACHE_DIR). Empty
	// keeps them in memory only.
	CacheDir string
	// Builtin serves the generated default creatives (REFEDGE_BANNERS_BUILTIN). A
	// creative in MasterDir with the same id replaces a built-in one.
	Builtin bool

	// Quality is the JPEG quality, 1-100 (REFEDGE_BANNERS_JPEG_QUALITY); 0 means 85.
	Quality int
	// Sharpen is the sigma of the sharpening applied after a downscale; 0 means 0.5, a
	// negative value disables it.
	Sharpen float64
	// RenderWorkers bounds concurrent decodes and renders, which bounds their memory;
	// 0 means 2.
	RenderWorkers int

	// MaxUploadBytes bounds a master's encoded size (REFEDGE_BANNERS_MAX_UPLOAD_BYTES);
	// 0 means 20 MiB.
	MaxUploadBytes int64
	// MaxPixels bounds a master's width*height, read from its header before any pixel is
	// decoded (REFEDGE_BANNERS_MAX_PIXELS); 0 means 25,000,000.
	MaxPixels int64
	// MaxSide bounds a master's width and height; 0 means 10000.
	MaxSide int

	// UnversionedMaxAge is the Cache-Control max-age of an image URL without the
	// creative's current ?v=; 0 means 1 hour.
	UnversionedMaxAge time.Duration
	// DedupWindow counts one impression per visitor, partner, creative and size within
	// the window; it is also the browser max-age of ?ref= loads
	// (REFEDGE_BANNERS_DEDUP_WINDOW). 0 means 1 hour.
	DedupWindow time.Duration
	// DedupEntries bounds the in-process dedup set; when full the window is cut short
	// (and counted). 0 means 1<<20 (about 16 MiB per generation at most).
	DedupEntries int
	// ImpressionBuffer bounds impressions handed off by the image path and not yet
	// queued; a full buffer drops (and counts) rather than delay an image. 0 means 65536.
	ImpressionBuffer int
	// Keys signs the daily visitor hash stored with impressions (REFEDGE_SECRET); nil
	// leaves visitor_hash empty.
	Keys *signing.Keyring
	// TrustedProxies are the peers whose X-Forwarded-For is believed
	// (REFEDGE_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// Network looks the viewer's address up for the impression's country and ASN, as
	// the tracker does for a click (the REFEDGE_GEO_* databases); nil records "" and 0.
	Network *ipintel.Service
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
	// Auth, when set, signs partners in on the materials page (their own codes without
	// typing an id); without it the page works from ?ref= alone.
	Auth *partnerapi.Auth
}

// NewDefaultConfig returns the defaults: masters in ./creatives, rendered cache in
// ./banner-cache, built-in creatives on. PublicURL and LinkBase must still be set.
func NewDefaultConfig() Config {
	c := Config{MasterDir: "./creatives", CacheDir: "./banner-cache", Builtin: true}
	c.defaults()
	return c
}

func (c *Config) defaults() {
	if c.Quality == 0 {
		c.Quality = 85
	}
	if c.Sharpen == 0 {
		c.Sharpen = 0.5
	}
	if c.RenderWorkers <= 0 {
		c.RenderWorkers = 2
	}
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = 20 << 20
	}
	if c.MaxPixels == 0 {
		c.MaxPixels = 25_000_000
	}
	if c.MaxSide == 0 {
		c.MaxSide = 10000
	}
	if c.UnversionedMaxAge <= 0 {
		c.UnversionedMaxAge = time.Hour
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = time.Hour
	}
	if c.DedupEntries <= 0 {
		c.DedupEntries = 1 << 20
	}
	if c.ImpressionBuffer <= 0 {
		c.ImpressionBuffer = 1 << 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Vars are the banners' optional variables; LoadEnv reads them.
var Vars = envvar.Table[Config]{Part: "banners", Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_BANNERS_DIR", Default: "./creatives", Help: "master creatives, one folder per creative; receives uploads",
		Set: envvar.String(func(c *Config) *string { return &c.MasterDir })},
	{Name: "REFEDGE_BANNERS_CACHE_DIR", Default: "./banner-cache", Help: "rendered JPEGs kept across restarts",
		Set: envvar.String(func(c *Config) *string { return &c.CacheDir })},
	{Name: "REFEDGE_BANNERS_BUILTIN", Default: "1", Help: "serve the generated default creatives, 1 or 0",
		Set: envvar.Bool(func(c *Config) *bool { return &c.Builtin })},
	{Name: "REFEDGE_BANNERS_JPEG_QUALITY", Default: "85", Help: "JPEG quality",
		Set: envvar.Int(func(c *Config) *int { return &c.Quality }, 1, 100)},
	{Name: "REFEDGE_BANNERS_MAX_UPLOAD_BYTES", Default: "20971520", Help: "largest master upload in bytes",
		Set: envvar.Int64(func(c *Config) *int64 { return &c.MaxUploadBytes }, 1024, 1<<30)},
	{Name: "REFEDGE_BANNERS_MAX_PIXELS", Default: "25000000", Help: "largest master width*height, checked before decoding",
		Set: envvar.Int64(func(c *Config) *int64 { return &c.MaxPixels }, 1, 1<<30)},
	{Name: "REFEDGE_BANNERS_DEDUP_WINDOW", Default: "1h", Help: "one banner impression per visitor within",
		Set: envvar.Duration(func(c *Config) *time.Duration { return &c.DedupWindow }, time.Second, 30*24*time.Hour)},
}}

// LoadEnv reads the banners' variables that are set into c, collecting every problem;
// each message names its variable.
func (c *Config) LoadEnv(getenv func(string) string) error { return Vars.Load(c, getenv) }

// Validate reports every problem, naming the variable behind each field.
func (c *Config) Validate() error {
	var errs []error
	if err := checkBase(c.PublicURL); err != nil {
		errs = append(errs, fmt.Errorf("REFEDGE_PUBLIC_URL (banners PublicURL): %w", err))
	}
	if err := checkBase(c.LinkBase); err != nil {
		errs = append(errs, fmt.Errorf("REFEDGE_MARKET_ORIGIN (banners LinkBase): %w", err))
	}
	if c.Quality < 0 || c.Quality > 100 {
		errs = append(errs, fmt.Errorf("REFEDGE_BANNERS_JPEG_QUALITY: want 1-100, got %d", c.Quality))
	}
	if c.MaxUploadBytes < 0 || c.MaxPixels < 0 || c.MaxSide < 0 {
		errs = append(errs, errors.New("REFEDGE_BANNERS_MAX_UPLOAD_BYTES, REFEDGE_BANNERS_MAX_PIXELS: limits must be positive"))
	}
	if c.MasterDir != "" && c.CacheDir != "" && strings.TrimRight(c.MasterDir, "/") == strings.TrimRight(c.CacheDir, "/") {
		errs = append(errs, errors.New("REFEDGE_BANNERS_CACHE_DIR: must differ from REFEDGE_BANNERS_DIR"))
	}
	return errors.Join(errs...)
}

// checkBase accepts an absolute http(s) URL without query or fragment.
func checkBase(s string) error {
	if s == "" {
		return errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("want an absolute http(s) URL such as https://market.example, got %q", s)
	}
	return nil
}
