package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/valyala/fasthttp"
	"golang.org/x/time/rate"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/dashboard"
	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/ledger"
	"github.com/refedge/refedge/attribution/review"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/banners"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/redisx"
	"github.com/refedge/refedge/tracker"
	"github.com/refedge/refedge/widget"
)

// deps are the clients serve and migrate share.
type deps struct {
	redis   *redisx.Client
	ch      driver.Conn
	chDB    string
	broker  *kafkax.Embedded
	brokers []string
}

func (d *deps) close(log *slog.Logger) {
	step(log, "close ClickHouse", func() error {
		if d.ch != nil {
			return d.ch.Close()
		}
		return nil
	})
	step(log, "close Redis", func() error {
		if d.redis != nil {
			return d.redis.Close()
		}
		return nil
	})
	if d.broker != nil {
		step(log, "stop embedded Kafka broker", func() error { d.broker.Close(); return nil })
	}
}

func openClickHouse(ctx context.Context, cfg *config.Config, log *slog.Logger, d *deps) error {
	var err error
	d.ch, d.chDB, err = sink.OpenClickHouse(ctx, cfg.ClickHouseDSN)
	if err != nil {
		return err
	}
	return sink.Migrate(ctx, d.ch, d.chDB, log)
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	d := &deps{}
	defer d.close(log)
	return openClickHouse(ctx, cfg, log, d)
}

func openDeps(ctx context.Context, cfg *config.Config, log *slog.Logger) (*deps, error) {
	d := &deps{}
	var err error
	if d.redis, err = redisx.Open(cfg.RedisURL, cfg.Dev); err != nil {
		return d, err
	}
	if d.redis.Embedded != nil {
		log.Warn("using the embedded Redis (REFEDGE_DEV=1): state is lost at exit", "addr", d.redis.Embedded.Addr())
	}
	if cfg.EmbeddedKafka() {
		if !cfg.Dev && len(cfg.KafkaBrokers) == 0 {
			return d, errors.New("REFEDGE_KAFKA_BROKERS: is required")
		}
		d.broker, err = kafkax.StartEmbedded(kafkax.EmbeddedConfig{Addr: cfg.KafkaEmbeddedAddr, Topics: event.AllTopics})
		if err != nil {
			return d, fmt.Errorf("REFEDGE_KAFKA_EMBEDDED_ADDR: %w", err)
		}
		d.brokers = d.broker.Addrs()
		log.Info("embedded Kafka broker started", "addrs", d.brokers)
	} else {
		d.brokers = cfg.KafkaBrokers
		go logKafkaTopics(ctx, d.brokers, log)
	}
	if d.ch, d.chDB, err = sink.OpenClickHouse(ctx, cfg.ClickHouseDSN); err != nil {
		return d, err
	}
	if perr := d.ch.Ping(ctx); perr != nil {
		// Start anyway: clicks redirect and spool; the schema is applied when ClickHouse
		// answers. A restart during an outage must not crash-loop the edge.
		log.Warn("ClickHouse does not answer; starting without it: events spool until it does, migrations run then", "err", perr)
		go migrateWhenReachable(ctx, d, log)
		return d, nil
	}
	return d, sink.Migrate(ctx, d.ch, d.chDB, log)
}

// migrateWhenReachable applies the schema once ClickHouse answers, retrying with
// backoff until ctx ends.
func migrateWhenReachable(ctx context.Context, d *deps, log *slog.Logger) {
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := d.ch.Ping(ctx)
		if err == nil {
			if err = sink.Migrate(ctx, d.ch, d.chDB, log); err == nil {
				log.Info("ClickHouse answers; schema is up to date")
				return
			}
		}
		wait = min(2*wait, 30*time.Second)
		log.Warn("ClickHouse still unavailable; will retry the migrations", "retry_in", wait, "err", err)
	}
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	log.Info("refedge starting", "http", cfg.HTTPAddr, "admin", cfg.AdminAddr,
		"origin", cfg.MarketOrigin.String(), "dev", cfg.Dev, "keys", cfg.Keys.Len())
	d, err := openDeps(ctx, cfg, log)
	if err != nil {
		d.close(log)
		return err
	}
	defer d.close(log)

	events, err := newEventPipelines(cfg, d, log, pipelineOptions{})
	if err != nil {
		return err
	}
	clicks, revocations, impressions := events.clicks, events.revocations, events.impressions
	registry := &partners.Registry{R: d.redis}
	quality := tracker.Quality{}
	state := &tracker.RedisState{R: d.redis, Q: quality}
	edge, err := tracker.NewEdge(tracker.Config{
		Origin:         cfg.MarketOrigin.String(),
		CookieDomain:   cfg.CookieDomain,
		Keys:           cfg.Keys,
		TrustedProxies: cfg.TrustedProxies,
		Quality:        quality,
	}, state, clicks, nil)
	if err != nil {
		return err
	}

	adm := admin.New(log)
	adm.SetCredentials(cfg.AdminCredentials)
	adm.SetFailLimit(cfg.AdminAuthFailures, admin.DefaultFailWindow)
	adm.SetAuditSink(&sink.AuditLog{P: events.audit, Queue: sink.AuditPipelineConfig().QueueSize})
	if len(cfg.AdminCredentials) == 0 {
		// Only reachable with REFEDGE_DEV=1 (config.ServeRules).
		adm.AllowAnonymous()
		log.Warn("no REFEDGE_ADMIN_TOKENS: every admin route is open to anyone who reaches the admin listener (development only)")
	} else {
		names := make([]string, len(cfg.AdminCredentials))
		for i, c := range cfg.AdminCredentials {
			names[i] = c.Name + ":" + c.Role.String()
		}
		log.Info("admin listener requires operator credentials", "operators", names)
	}
	// Dependencies are reported by /readyz but do not fail it: the edge serves through
	// their outages (degraded verdicts, the spool). What does fail it is the edge's own
	// state: a full spool, or shutting down.
	adm.AddDependency("redis", func(ctx context.Context) error { return d.redis.Check(ctx, time.Second) })
	adm.AddDependency("clickhouse", func(ctx context.Context) error { return d.ch.Ping(ctx) })
	adm.AddDependency("kafka", func(ctx context.Context) error { return kafkaReady(ctx, d.brokers) })
	adm.AddCheck("spool", func(context.Context) error {
		var full []string
		for name, p := range map[string]interface{ FullSpools() []string }{"clicks": clicks, "revocations": revocations, "impressions": impressions, "audit": events.audit} {
			for _, sink := range p.FullSpools() {
				full = append(full, name+"/"+sink)
			}
		}
		if len(full) > 0 {
			return fmt.Errorf("spool full: %v (REFEDGE_SPOOL_MAX_BYTES)", full)
		}
		return nil
	})
	registry.RegisterAdmin(adm)
	edge.RegisterAdmin(adm, registry)

	auth, err := partnerapi.NewAuth(partnerapi.Config{Keys: cfg.Keys, Redis: d.redis, PublicURL: cfg.PublicURL.String(), Partners: registry})
	if err != nil {
		return err
	}
	auth.RegisterAdmin(adm, registry)
	api := partnerapi.NewRouter(auth, log)
	bcfg := banners.NewDefaultConfig()
	if err := bcfg.LoadEnv(os.LookupEnv); err != nil {
		return err
	}
	// Referral links in embed codes point at the marketplace origin: in production the
	// front proxy routes ref= there to refedge. In development the origin is a stub, so
	// links go to refedge directly.
	linkBase := cfg.MarketOrigin.String()
	if cfg.Dev {
		linkBase = cfg.PublicURL.String()
	}
	bcfg.PublicURL, bcfg.LinkBase = cfg.PublicURL.String(), linkBase
	bcfg.Keys, bcfg.TrustedProxies, bcfg.Logger, bcfg.Auth = cfg.Keys, cfg.TrustedProxies, log, auth
	bannerSvc, err := banners.New(bcfg, impressions)
	if err != nil {
		return err
	}
	bannerSvc.RegisterAdmin(adm)
	bannerSvc.RegisterAPI(api)

	wcfg := widget.NewDefaultConfig()
	if err := wcfg.LoadEnv(os.LookupEnv); err != nil {
		return err
	}
	wcfg.Redis, wcfg.Keys, wcfg.MarketOrigin, wcfg.PublicURL = d.redis, cfg.Keys, cfg.MarketOrigin.String(), cfg.PublicURL.String()
	if wcfg.LinkBase == "" {
		wcfg.LinkBase = linkBase
	}
	wcfg.Impressions, wcfg.Auth, wcfg.Partners, wcfg.TrustedProxies, wcfg.Log = impressions, auth, registry, cfg.TrustedProxies, log
	widgetSvc, err := widget.New(wcfg)
	if err != nil {
		return err
	}
	widgetSvc.RegisterAdmin(adm)
	widgetSvc.RegisterAPI(api)
	catalog, err := widget.NewCatalog(d.redis, cfg.MarketOrigin.String())
	if err != nil {
		return err
	}
	catalogConsumer := widget.NewCatalogConsumer(d.brokers, "refedge-widget-catalog", catalog, log)
	catalogConsumer.Start()

	// Partner analytics (API, dashboard) and the operator review read ClickHouse through
	// their own pool, so slow queries never queue behind event inserts.
	anConn, anDB, err := analytics.OpenClickHouse(cfg.ClickHouseDSN, os.Getenv)
	if err != nil {
		return err
	}
	defer anConn.Close()
	acfg := analytics.NewDefaultConfig()
	if err := acfg.LoadEnv(os.Getenv); err != nil {
		return err
	}
	acfg.Conn, acfg.DB, acfg.Logger = anConn, anDB, log
	an, err := analytics.New(acfg)
	if err != nil {
		return err
	}
	an.Register(api)
	an.Start()
	dash, err := dashboard.New(dashboard.Config{Analytics: an, Auth: auth, Logger: log})
	if err != nil {
		return err
	}
	rv, err := review.New(review.Config{Conn: anConn, DB: anDB, Logger: log})
	if err != nil {
		return err
	}
	rv.RegisterAdmin(adm)

	// Link builder: POST /api/v1/links and the /partner/links page.
	lcfg := tracker.LinksConfig{MarketOrigin: cfg.MarketOrigin.String(), Auth: auth, Logger: log}
	if err := lcfg.LoadEnv(os.Getenv); err != nil {
		return err
	}
	if lcfg.LinkBase == "" && cfg.Dev {
		lcfg.LinkBase = linkBase
	}
	links, err := tracker.NewLinks(lcfg)
	if err != nil {
		return err
	}
	links.Register(api)

	// Referral ledger: consumes the marketplace's topics, produces attributions and
	// commissions (docs/commissions.md).
	ledgerCfg, err := ledger.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	led, err := ledger.New(ledgerCfg, d.redis, d.ch, d.chDB, d.brokers, cfg.Keys, log)
	if err != nil {
		return err
	}
	if err := led.Start(ctx); err != nil {
		return fmt.Errorf("cannot start the ledger: %w", err)
	}
	adm.AddDependency("ledger", led.Ready)
	led.RegisterAdmin(adm)
	console, err := review.NewConsole(review.ConsoleConfig{Review: rv, Ledger: led, Conn: anConn, DB: anDB, Logger: log})
	if err != nil {
		return err
	}
	console.RegisterAdmin(adm)

	// The partner app: its shared assets, language switch and API tokens page, then the
	// link builder, then the dashboard.
	partnerApp, err := partnerui.NewHandler(auth, links.PartnerPages(dash.Handler), log)
	if err != nil {
		return err
	}
	routes := tracker.Routes{
		API:       api.Serve,
		Dashboard: partnerApp.Serve,
		Beacon:    edge.HandleBeacon(tracker.BeaconConfig{Revocations: revocations, Redis: d.redis}),
		Banners:   bannerSvc.ServeHTTP,
		Widget:    widgetSvc.Serve,
	}

	pub := &fasthttp.Server{
		Handler:                       edge.Handler(routes),
		Name:                          "refedge",
		ReadTimeout:                   10 * time.Second,
		WriteTimeout:                  10 * time.Second,
		IdleTimeout:                   60 * time.Second,
		MaxRequestBodySize:            1 << 20,
		Concurrency:                   cfg.MaxConns,
		MaxConnsPerIP:                 cfg.MaxConnsPerIP,
		ReadBufferSize:                8192,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		CloseOnShutdown:               true,
		Logger:                        newFasthttpLogger(log),
	}
	pubLn, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("REFEDGE_HTTP_ADDR: %w", err)
	}
	admLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("REFEDGE_ADMIN_ADDR: %w", err)
	}
	admSrv := &http.Server{Handler: adm, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- pub.Serve(pubLn) }()
	go func() { errc <- admSrv.Serve(admLn) }()
	log.Info("refedge ready", "http", pubLn.Addr().String(), "admin", admLn.Addr().String())

	select {
	case <-ctx.Done():
		log.Info("shutdown signal received")
	case err = <-errc:
		log.Error("listener failed", "err", err)
	}

	// Fixed order: stop accepting and drain handlers, flush every queued event, close
	// producers, then (deferred) close clients. /readyz answers 503 from the start.
	adm.SetDraining()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	step(log, "stop public listener and drain handlers", func() error { return pub.ShutdownWithContext(sctx) })
	step(log, "stop ledger consumers (commit after durable effects)", func() error { return led.Stop(sctx) })
	step(log, "stop widget kwork catalog consumer", func() error { return catalogConsumer.Stop(sctx) })
	step(log, "stop widget renders", func() error { widgetSvc.Close(); return nil })
	step(log, "stop banner renders and hand off impressions", func() error { return bannerSvc.Close(sctx) })
	step(log, "flush impression events", func() error { return impressions.Stop(sctx) })
	step(log, "flush click events", func() error { return clicks.Stop(sctx) })
	step(log, "flush revocation events", func() error { return revocations.Stop(sctx) })
	step(log, "close Kafka click producer", events.clickWriter.Close)
	step(log, "stop admin listener", func() error { return admSrv.Shutdown(sctx) })
	step(log, "flush audit entries", func() error { return events.audit.Stop(sctx) })
	step(log, "close Kafka audit producer", events.auditWriter.Close)
	step(log, "stop analytics sealer", func() error { return an.Stop(sctx) })
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// step runs one shutdown step and logs its duration.
func step(log *slog.Logger, name string, fn func() error) {
	start := time.Now()
	err := fn()
	if err != nil {
		log.Error("shutdown step failed", "step", name, "duration", time.Since(start), "err", err)
		return
	}
	log.Info("shutdown step done", "step", name, "duration", time.Since(start))
}

// fasthttpLogger takes fasthttp's messages (one per malformed request or failed
// connection). It withholds the request bytes fasthttp quotes ("contents: ..." may hold
// cookies and tokens; secrets never reach the logs) and keeps a flood of bad requests
// from flooding the log: at most fasthttpLogBurst lines, refilled at fasthttpLogRate per
// second, the rest counted and reported with the next line that passes.
type fasthttpLogger struct {
	log        *slog.Logger
	limit      *rate.Limiter
	suppressed atomic.Int64
}

const (
	fasthttpLogRate  = 5
	fasthttpLogBurst = 20
)

func newFasthttpLogger(log *slog.Logger) *fasthttpLogger {
	return &fasthttpLogger{log: log, limit: rate.NewLimiter(fasthttpLogRate, fasthttpLogBurst)}
}

func (l *fasthttpLogger) Printf(format string, args ...any) {
	if !l.limit.Allow() {
		l.suppressed.Add(1)
		return
	}
	msg := withholdRequestBytes(fmt.Sprintf(format, args...))
	if n := l.suppressed.Swap(0); n > 0 {
		l.log.Warn(msg, "component", "fasthttp", "suppressed_before", n)
		return
	}
	l.log.Warn(msg, "component", "fasthttp")
}

// withholdRequestBytes cuts the request fasthttp quotes out of its message: the
// "buffer size=..., contents: ..." tail, and every quoted string after "error when
// reading request" (`unsupported http version "X" in "GET / X\r\nCookie: ..."`). The
// peer addresses before it stay.
func withholdRequestBytes(msg string) string {
	cut := false
	for _, marker := range []string{"buffer size=", "Buffer size=", "contents:"} {
		if i := strings.Index(msg, marker); i >= 0 {
			msg, cut = strings.TrimRight(msg[:i], ":., "), true
		}
	}
	if i := strings.Index(msg, "error when reading request"); i >= 0 {
		if tail := quotedRE.ReplaceAllString(msg[i:], `"…"`); tail != msg[i:] {
			msg, cut = msg[:i]+tail, true
		}
	}
	if cut {
		msg += " (request bytes withheld)"
	}
	return msg
}

// quotedRE matches a Go-quoted string (%q), escapes included.
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
