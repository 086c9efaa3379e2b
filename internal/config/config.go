// Package config reads and validates the operator's REFEDGE_* variables.
//
// Every variable is declared once in Vars, which drives both parsing and the --help text,
// so the two cannot drift apart. Load collects every problem with errors.Join and each
// message names the variable.
package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/envvar"
	"github.com/refedge/refedge/internal/signing"
)

// Config is the process-wide configuration.
type Config struct {
	// HTTPAddr is the public listener (clicks, widgets, banners, partner API and dashboard).
	HTTPAddr string
	// AdminAddr is the internal listener (health, metrics, pprof, admin API).
	AdminAddr string
	// AdminCredentials are the operators the admin listener accepts
	// (REFEDGE_ADMIN_TOKENS); serve refuses to start without one outside dev mode.
	AdminCredentials []admin.Credential
	// AdminAuthFailures is how many wrong credentials one client address may present
	// per minute before the admin listener answers it 429.
	AdminAuthFailures int
	// MarketOrigin is the only redirect target: scheme://host[:port], no path.
	MarketOrigin *url.URL
	// PublicURL is refedge's own base URL, used in embed codes.
	PublicURL *url.URL
	// CookieDomain is the Domain attribute of the attribution cookies; empty means host-only.
	CookieDomain string
	// Keys signs cookies, beacons and tokens (REFEDGE_SECRET).
	Keys *signing.Keyring
	// RedisURL is redis://host:port/db or comma-separated cluster seeds; empty in dev means embedded.
	RedisURL string
	// ClickHouseDSN is the native-protocol DSN, e.g. clickhouse://127.0.0.1:9000/refedge.
	ClickHouseDSN string
	// KafkaBrokers lists the brokers; a single "embedded" means the in-process broker.
	KafkaBrokers []string
	// KafkaEmbeddedAddr is where the embedded broker listens.
	KafkaEmbeddedAddr string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SpoolDir keeps events that could not be delivered yet.
	SpoolDir string
	// SpoolMaxBytes bounds each sink's spool.
	SpoolMaxBytes int64
	// MaxConns bounds the public listener's concurrent connections.
	MaxConns int
	// MaxConnsPerIP bounds one peer address's concurrent connections; 0 is no limit.
	MaxConnsPerIP int
	// Dev allows embedded Redis and Kafka when their variables are empty.
	Dev bool
	// ShutdownTimeout bounds the whole graceful stop.
	ShutdownTimeout time.Duration
	// LogFormat is "json" or "text"; default json, text in dev.
	LogFormat string
}

// EmbeddedKafka is the REFEDGE_KAFKA_BROKERS value that selects the in-process broker.
const EmbeddedKafka = "embedded"

// Vars lists every variable of the process in the order --help prints them. Every one
// is read, unset ones as their default, so required ones can refuse to be empty.
var Vars = envvar.Table[Config]{Strict: true, Vars: []envvar.Var[Config]{
	{Name: "REFEDGE_HTTP_ADDR", Default: ":8080", Help: "public listener: clicks, widgets, banners, partner API and dashboard", Set: func(c *Config, v string) error {
		c.HTTPAddr = v
		return checkAddr(v)
	}},
	{Name: "REFEDGE_ADMIN_ADDR", Default: "127.0.0.1:8081", Help: "internal listener: /healthz, /readyz, /metrics, pprof, admin API", Set: func(c *Config, v string) error {
		c.AdminAddr = v
		return checkAddr(v)
	}},
	{Name: "REFEDGE_ADMIN_TOKENS", Default: "", Help: "operator credentials of the admin listener, comma-separated name:role:secret (role viewer or admin, secret of 24+ characters; list several to rotate); required unless REFEDGE_DEV=1", Set: func(c *Config, v string) (err error) {
		c.AdminCredentials, err = admin.ParseCredentials(v)
		if err != nil {
			// ParseCredentials' messages name entries by position and name, never a secret.
			return errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		return nil
	}},
	{Name: "REFEDGE_ADMIN_AUTH_FAILURES", Default: "10", Help: "wrong operator credentials one client address may present per minute before the admin listener answers it 429", Set: envvar.Int(func(c *Config) *int { return &c.AdminAuthFailures }, 1, math.MaxInt)},
	{Name: "REFEDGE_MARKET_ORIGIN", Default: "", Help: "the marketplace origin, the only redirect target (required), e.g. https://market.example", Set: func(c *Config, v string) (err error) {
		c.MarketOrigin, err = parseOrigin(v)
		return err
	}},
	{Name: "REFEDGE_PUBLIC_URL", Default: "http://localhost:8080", Help: "refedge's own public base URL, used in embed codes", Set: func(c *Config, v string) (err error) {
		c.PublicURL, err = parseOrigin(v)
		return err
	}},
	{Name: "REFEDGE_COOKIE_DOMAIN", Default: "", Help: "Domain of the attribution cookies (the marketplace's registrable domain); empty: host-only", Set: func(c *Config, v string) error {
		c.CookieDomain = strings.TrimPrefix(v, ".")
		if v != "" && (strings.ContainsAny(v, " ;,/\\:") || !strings.Contains(c.CookieDomain, ".") && c.CookieDomain != "localhost") {
			return errors.New("not a domain name")
		}
		return nil
	}},
	{Name: "REFEDGE_SECRET", Default: "", Help: "HMAC keys for cookies and tokens, comma-separated, at least 16 bytes each; the first signs, all verify (required)", Set: func(c *Config, v string) (err error) {
		if v == "" {
			return errors.New("is required")
		}
		c.Keys, err = signing.ParseKeyring(v)
		return err
	}},
	{Name: "REFEDGE_REDIS_URL", Default: "", Help: "redis://host:port/db, or comma-separated host:port seeds for Redis Cluster; empty with REFEDGE_DEV=1: embedded", Set: func(c *Config, v string) error {
		c.RedisURL = v
		return nil
	}},
	{Name: "REFEDGE_CLICKHOUSE_DSN", Default: "", Help: "ClickHouse native DSN, e.g. clickhouse://127.0.0.1:9000/refedge (required)", Set: func(c *Config, v string) error {
		c.ClickHouseDSN = v
		if v == "" {
			return errors.New("is required")
		}
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "clickhouse" || u.Host == "" {
			return errors.New("want clickhouse://host:port/database")
		}
		return nil
	}},
	{Name: "REFEDGE_KAFKA_BROKERS", Default: "", Help: "comma-separated brokers, or 'embedded' for the in-process broker; empty with REFEDGE_DEV=1: embedded", Set: func(c *Config, v string) error {
		c.KafkaBrokers = nil
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				if b != EmbeddedKafka {
					if err := checkAddr(b); err != nil {
						return fmt.Errorf("broker %d: %w", len(c.KafkaBrokers)+1, err)
					}
				}
				c.KafkaBrokers = append(c.KafkaBrokers, b)
			}
		}
		return nil
	}},
	{Name: "REFEDGE_KAFKA_EMBEDDED_ADDR", Default: "127.0.0.1:9092", Help: "where the embedded broker listens, so outside clients can reach it", Set: func(c *Config, v string) error {
		c.KafkaEmbeddedAddr = v
		return checkAddr(v)
	}},
	{Name: "REFEDGE_TRUSTED_PROXIES", Default: "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7", Help: "CIDRs whose X-Forwarded-For is believed; 'none' trusts nobody", Set: func(c *Config, v string) error {
		c.TrustedProxies = nil
		if v == "none" {
			return nil
		}
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return fmt.Errorf("entry %d is not a CIDR", len(c.TrustedProxies)+1)
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
		return nil
	}},
	{Name: "REFEDGE_SPOOL_DIR", Default: "./spool", Help: "local folder for events that could not be delivered yet", Set: func(c *Config, v string) error {
		c.SpoolDir = v
		if v == "" {
			return errors.New("is required")
		}
		return nil
	}},
	{Name: "REFEDGE_SPOOL_MAX_BYTES", Default: "1073741824", Help: "bound of each sink's spool in bytes; a full spool raises refedge_spool_full and holds batches in memory", Set: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			return errors.New("want a byte count of at least 1048576")
		}
		c.SpoolMaxBytes = n
		return nil
	}},
	{Name: "REFEDGE_MAX_CONNS", Default: "20000", Help: "most concurrent connections on the public listener; past it new connections are answered 503 and closed", Set: envvar.Int(func(c *Config) *int { return &c.MaxConns }, 1, math.MaxInt)},
	{Name: "REFEDGE_MAX_CONNS_PER_IP", Default: "0", Help: "most concurrent connections from one peer address on the public listener (0: no limit); set it only when refedge faces visitors directly, not behind a proxy or load balancer", Set: envvar.Int(func(c *Config) *int { return &c.MaxConnsPerIP }, 0, math.MaxInt)},
	{Name: "REFEDGE_DEV", Default: "0", Help: "1 allows embedded Redis and Kafka when their variables are empty", Set: func(c *Config, v string) error {
		switch v {
		case "1", "true":
			c.Dev = true
		case "0", "false", "":
			c.Dev = false
		default:
			return errors.New("want 0 or 1")
		}
		return nil
	}},
	{Name: "REFEDGE_SHUTDOWN_TIMEOUT", Default: "30s", Help: "upper bound of a graceful stop (drain, flush, close)", Set: func(c *Config, v string) (err error) {
		if c.ShutdownTimeout, err = time.ParseDuration(v); err != nil {
			return errors.New("want a duration such as 30s")
		}
		if c.ShutdownTimeout <= 0 {
			return errors.New("must be positive")
		}
		return nil
	}},
	{Name: "REFEDGE_LOG_FORMAT", Default: "", Help: "json or text; default json, text when REFEDGE_DEV=1", Set: func(c *Config, v string) error {
		c.LogFormat = v
		if v != "" && v != "json" && v != "text" {
			return errors.New("want json or text")
		}
		return nil
	}},
}}

// Load reads every variable through getenv and validates the result.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{}
	err := Vars.Load(c, getenv)
	errs := []error{err}
	failed := envvar.Names(err)
	// Cross-variable rules, except for variables already reported.
	for _, err := range c.rules() {
		name, _, _ := strings.Cut(err.Error(), ":")
		if !failed[name] {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the rules that span several variables.
func (c *Config) Validate() error { return errors.Join(c.rules()...) }

// rules returns one error per broken cross-variable rule, each starting with the name
// of the variable to fix.
func (c *Config) rules() []error {
	var errs []error
	if c.RedisURL == "" && !c.Dev {
		errs = append(errs, errors.New("REFEDGE_REDIS_URL: is required (or set REFEDGE_DEV=1 for the embedded Redis)"))
	}
	if len(c.KafkaBrokers) == 0 && !c.Dev {
		errs = append(errs, errors.New("REFEDGE_KAFKA_BROKERS: is required (or set REFEDGE_DEV=1 for the embedded broker)"))
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
		if c.Dev {
			c.LogFormat = "text"
		}
	}
	return errs
}

// ServeRules are the rules only serve needs: outside development the admin listener
// must have an operator credential.
func (c *Config) ServeRules() error {
	if len(c.AdminCredentials) == 0 && !c.Dev {
		return errors.New("REFEDGE_ADMIN_TOKENS: is required (at least one name:admin:secret entry; REFEDGE_DEV=1 runs without, every admin route open)")
	}
	return nil
}

// EmbeddedKafka reports whether the in-process broker is to be started.
func (c *Config) EmbeddedKafka() bool {
	return len(c.KafkaBrokers) == 0 || (len(c.KafkaBrokers) == 1 && c.KafkaBrokers[0] == EmbeddedKafka)
}

func parseOrigin(v string) (*url.URL, error) {
	if v == "" {
		return nil, errors.New("is required")
	}
	u, err := url.Parse(v)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("want scheme://host[:port] with no path, query or credentials")
	}
	u.Path = ""
	return u, nil
}

// checkAddr validates host:port without echoing the value.
func checkAddr(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return errors.New("want host:port")
	}
	return nil
}
