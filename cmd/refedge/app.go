package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/dashboard"
	"github.com/refedge/refedge/attribution/ledger"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/attribution/review"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/banners"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/internal/ipintel"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/tracker"
	"github.com/refedge/refedge/widget"
)

// partConfigs are the parts' own settings, read from the environment before anything
// starts so that every bad variable is reported at once.
type partConfigs struct {
	events    pipeline.Config // the click and impression pipelines
	geo       ipintel.Config  // the network step's databases and lists
	banners   banners.Config
	widget    widget.Config
	links     tracker.LinksConfig
	analytics analytics.Config
	ledger    ledger.Config
}

// loadParts reads every part's variables through getenv.
func loadParts(getenv func(string) string) (*partConfigs, error) {
	p := &partConfigs{
		events:    pipeline.NewDefaultConfig(),
		geo:       ipintel.NewDefaultConfig(),
		banners:   banners.NewDefaultConfig(),
		widget:    widget.NewDefaultConfig(),
		analytics: analytics.NewDefaultConfig(),
		ledger:    ledger.NewDefaultConfig(),
	}
	return p, errors.Join(p.events.LoadEnv(getenv), p.geo.LoadEnv(getenv), p.banners.LoadEnv(getenv),
		p.widget.LoadEnv(getenv), p.links.LoadEnv(getenv), p.analytics.LoadEnv(getenv), p.ledger.LoadEnv(getenv))
}

// App is `refedge serve`: every part built by New in the order of its start steps,
// served by Run, stopped by Close in the order of its stop steps.
type App struct {
	cfg   *config.Config
	parts *partConfigs
	log   *slog.Logger

	deps      *deps
	events    *eventPipelines
	adm       *admin.Server
	registry  *partners.Registry
	geo       *ipintel.Service
	edge      *tracker.Edge
	auth      *partnerapi.Auth
	api       *partnerapi.Router
	banners   *banners.Service
	widget    *widget.Service
	catalog   *widget.CatalogConsumer
	anConn    driver.Conn
	anDB      string
	analytics *analytics.Analytics
	dashboard *dashboard.Dashboard
	review    *review.Review
	links     *tracker.Links
	ledger    *ledger.Service

	pub    *fasthttp.Server
	admSrv *http.Server
	pubLn  net.Listener
	admLn  net.Listener
	served bool // Run started serving the listeners
}

// appStep is one named step of starting or stopping; fn is nil-safe for parts that
// were never built.
type appStep struct {
	name string
	fn   func(ctx context.Context) error
}

// startSteps builds the parts, each from what the steps before it made.
func (a *App) startSteps() []appStep {
	return []appStep{
		{"open Redis, Kafka and ClickHouse", a.openDeps},
		{"build the event pipelines", a.buildPipelines},
		{"open the IP databases and build the click edge", a.buildEdge},
		{"build the admin listener", a.buildAdmin},
		{"build the partner API", a.buildPartnerAPI},
		{"build the banners", a.buildBanners},
		{"build the widgets and start their kwork catalogue", a.buildWidgets},
		{"build partner analytics, the dashboard and the review", a.buildAnalytics},
		{"build the link builder", a.buildLinks},
		{"start the referral ledger and the console", a.startLedger},
		{"open the listeners", a.listen},
	}
}

// stopSteps is the shutdown order: stop accepting and drain handlers, stop consuming,
// flush every queued event, close producers, stop the admin listener late so /readyz
// reports draining throughout, then close the clients. Parts never built are skipped.
func (a *App) stopSteps() []appStep {
	var steps []appStep
	add := func(built bool, name string, fn func(ctx context.Context) error) {
		if built {
			steps = append(steps, appStep{name, fn})
		}
	}
	ev := a.events
	add(a.served, "stop public listener and drain handlers", func(ctx context.Context) error { return a.pub.ShutdownWithContext(ctx) })
	add(a.pubLn != nil && !a.served, "close the listeners", func(context.Context) error { return errors.Join(a.pubLn.Close(), a.admLn.Close()) })
	add(a.ledger != nil, "stop ledger consumers (commit after durable effects)", func(ctx context.Context) error { return a.ledger.Stop(ctx) })
	add(a.catalog != nil, "stop widget kwork catalog consumer", func(ctx context.Context) error { return a.catalog.Stop(ctx) })
	add(a.widget != nil, "stop widget renders", func(context.Context) error { a.widget.Close(); return nil })
	add(a.banners != nil, "stop banner renders and hand off impressions", func(ctx context.Context) error { return a.banners.Close(ctx) })
	add(ev != nil, "flush impression events", func(ctx context.Context) error { return ev.impressions.Stop(ctx) })
	add(ev != nil, "flush click events", func(ctx context.Context) error { return ev.clicks.Stop(ctx) })
	add(ev != nil, "flush revocation events", func(ctx context.Context) error { return ev.revocations.Stop(ctx) })
	add(ev != nil, "close Kafka click producer", func(context.Context) error { return ev.clickWriter.Close() })
	add(a.served, "stop admin listener", func(ctx context.Context) error { return a.admSrv.Shutdown(ctx) })
	add(ev != nil, "flush audit entries", func(ctx context.Context) error { return ev.audit.Stop(ctx) })
	add(ev != nil, "close Kafka audit producer", func(context.Context) error { return ev.auditWriter.Close() })
	add(a.analytics != nil, "stop analytics sealer", func(ctx context.Context) error { return a.analytics.Stop(ctx) })
	add(a.anConn != nil, "close the analytics ClickHouse pool", func(context.Context) error { return a.anConn.Close() })
	add(a.deps != nil, "close ClickHouse, Redis and the embedded broker", func(context.Context) error { a.deps.close(a.log); return nil })
	return steps
}

// NewApp builds every part. On failure it closes what was built and returns why.
func NewApp(ctx context.Context, cfg *config.Config, parts *partConfigs, log *slog.Logger) (*App, error) {
	a := &App{cfg: cfg, parts: parts, log: log}
	log.Info("refedge starting", "http", cfg.HTTPAddr, "admin", cfg.AdminAddr,
		"origin", cfg.MarketOrigin.String(), "dev", cfg.Dev, "keys", cfg.Keys.Len())
	for _, s := range a.startSteps() {
		if err := s.fn(ctx); err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			a.Close(cctx)
			return nil, err
		}
	}
	return a, nil
}

// Run serves until ctx ends or a listener fails, then closes the app.
func (a *App) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	a.served = true
	go func() { errc <- a.pub.Serve(a.pubLn) }()
	go func() { errc <- a.admSrv.Serve(a.admLn) }()
	a.log.Info("refedge ready", "http", a.pubLn.Addr().String(), "admin", a.admLn.Addr().String())
	var err error
	select {
	case <-ctx.Done():
		a.log.Info("shutdown signal received")
	case err = <-errc:
		a.log.Error("listener failed", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	a.Close(sctx)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close runs every stop step in order within ctx; /readyz answers 503 from the start. A
// failing step is logged and the others still run.
func (a *App) Close(ctx context.Context) {
	if a.adm != nil {
		a.adm.SetDraining()
	}
	for _, s := range a.stopSteps() {
		step(a.log, s.name, func() error { return s.fn(ctx) })
	}
}

func (a *App) openDeps(ctx context.Context) (err error) {
	a.deps, err = openDeps(ctx, a.cfg, a.log)
	return err
}

func (a *App) buildPipelines(context.Context) (err error) {
	a.events, err = newEventPipelines(a.cfg, a.parts.events, a.deps, a.log, pipelineOptions{})
	return err
}

func (a *App) buildEdge(ctx context.Context) (err error) {
	a.registry = &partners.Registry{Redis: a.deps.redis}
	if a.geo, err = openGeo(ctx, a.parts.geo, a.log); err != nil {
		return err
	}
	quality := tracker.Quality{Network: a.geo}
	state := &tracker.RedisState{Redis: a.deps.redis, Quality: quality}
	a.edge, err = tracker.NewEdge(tracker.Config{
		Origin:         a.cfg.MarketOrigin.String(),
		CookieDomain:   a.cfg.CookieDomain,
		Keys:           a.cfg.Keys,
		TrustedProxies: a.cfg.TrustedProxies,
		Quality:        quality,
	}, state, a.events.clicks, nil)
	return err
}

func (a *App) buildAdmin(context.Context) error {
	cfg, d, events := a.cfg, a.deps, a.events
	adm := admin.New(a.log)
	a.adm = adm
	geoFeature(adm, a.geo)
	adm.SetCredentials(cfg.AdminCredentials)
	adm.SetFailLimit(cfg.AdminAuthFailures, admin.DefaultFailWindow)
	adm.SetAuditSink(&sink.AuditLog{P: events.audit, Queue: sink.AuditPipelineConfig().QueueSize})
	if len(cfg.AdminCredentials) == 0 {
		// Only reachable with REFEDGE_DEV=1 (config.ServeRules).
		adm.AllowAnonymous()
		a.log.Warn("no REFEDGE_ADMIN_TOKENS: every admin route is open to anyone who reaches the admin listener (development only)")
	} else {
		names := make([]string, len(cfg.AdminCredentials))
		for i, c := range cfg.AdminCredentials {
			names[i] = c.Name + ":" + c.Role.String()
		}
		a.log.Info("admin listener requires operator credentials", "operators", names)
	}
	// Dependencies are reported by /readyz but do not fail it: the edge serves through
	// their outages (degraded verdicts, the spool). What does fail it is the edge's own
	// state: a full spool, or shutting down.
	adm.AddDependency("redis", func(ctx context.Context) error { return d.redis.Check(ctx, time.Second) })
	adm.AddDependency("clickhouse", func(ctx context.Context) error { return d.ch.Ping(ctx) })
	adm.AddDependency("kafka", func(ctx context.Context) error { return kafkaReady(ctx, d.brokers) })
	adm.AddCheck("spool", func(context.Context) error {
		var full []string
		for name, p := range map[string]interface{ FullSpools() []string }{"clicks": events.clicks,
			"revocations": events.revocations, "impressions": events.impressions, "audit": events.audit} {
			for _, s := range p.FullSpools() {
				full = append(full, name+"/"+s)
			}
		}
		if len(full) > 0 {
			return fmt.Errorf("spool full: %v (REFEDGE_SPOOL_MAX_BYTES)", full)
		}
		return nil
	})
	a.registry.RegisterAdmin(adm)
	a.edge.RegisterAdmin(adm, a.registry)
	return nil
}

func (a *App) buildPartnerAPI(context.Context) (err error) {
	a.auth, err = partnerapi.NewAuth(partnerapi.Config{Keys: a.cfg.Keys, Redis: a.deps.redis,
		PublicURL: a.cfg.PublicURL.String(), Partners: a.registry})
	if err != nil {
		return err
	}
	a.auth.RegisterAdmin(a.adm, a.registry)
	a.api = partnerapi.NewRouter(a.auth, a.log)
	return nil
}

// linkBase is where referral links in embed codes point: the marketplace origin, as the
// front proxy routes ref= there to refedge; in development the origin is a stub, so
// links go to refedge directly.
func (a *App) linkBase() string {
	if a.cfg.Dev {
		return a.cfg.PublicURL.String()
	}
	return a.cfg.MarketOrigin.String()
}

func (a *App) buildBanners(context.Context) (err error) {
	bcfg := a.parts.banners
	bcfg.PublicURL, bcfg.LinkBase = a.cfg.PublicURL.String(), a.linkBase()
	bcfg.Keys, bcfg.TrustedProxies, bcfg.Logger, bcfg.Auth = a.cfg.Keys, a.cfg.TrustedProxies, a.log, a.auth
	bcfg.Network = a.geo
	if a.banners, err = banners.New(bcfg, a.events.impressions); err != nil {
		return err
	}
	a.banners.RegisterAdmin(a.adm)
	a.banners.RegisterAPI(a.api)
	return nil
}

func (a *App) buildWidgets(context.Context) (err error) {
	cfg, wcfg := a.cfg, a.parts.widget
	wcfg.Redis, wcfg.Keys, wcfg.MarketOrigin, wcfg.PublicURL = a.deps.redis, cfg.Keys, cfg.MarketOrigin.String(), cfg.PublicURL.String()
	if wcfg.LinkBase == "" {
		wcfg.LinkBase = a.linkBase()
	}
	wcfg.Impressions, wcfg.Auth, wcfg.Partners, wcfg.TrustedProxies, wcfg.Log = a.events.impressions, a.auth, a.registry, cfg.TrustedProxies, a.log
	wcfg.Network = a.geo
	if a.widget, err = widget.New(wcfg); err != nil {
		return err
	}
	a.widget.RegisterAdmin(a.adm)
	a.widget.RegisterAPI(a.api)
	catalog, err := widget.NewCatalog(a.deps.redis, cfg.MarketOrigin.String())
	if err != nil {
		return err
	}
	a.catalog = widget.NewCatalogConsumer(a.deps.brokers, "refedge-widget-catalog", catalog, a.log)
	a.catalog.Start()
	return nil
}

// buildAnalytics builds partner analytics (API, dashboard) and the operator review;
// they read ClickHouse through their own pool, so slow queries never queue behind event
// inserts.
func (a *App) buildAnalytics(context.Context) error {
	acfg := a.parts.analytics
	conn, db, err := analytics.OpenClickHouse(a.cfg.ClickHouseDSN, &acfg)
	if err != nil {
		return err
	}
	a.anConn, a.anDB = conn, db
	acfg.Conn, acfg.DB, acfg.Logger, acfg.ASName = conn, db, a.log, a.geo.ASName
	if a.analytics, err = analytics.New(acfg); err != nil {
		return err
	}
	a.analytics.Register(a.api)
	a.analytics.Start()
	if a.dashboard, err = dashboard.New(dashboard.Config{Analytics: a.analytics, Auth: a.auth, Logger: a.log}); err != nil {
		return err
	}
	if a.review, err = review.New(review.Config{Conn: conn, DB: db, Logger: a.log}); err != nil {
		return err
	}
	a.review.RegisterAdmin(a.adm)
	return nil
}

// buildLinks builds the link builder: POST /api/v1/links and the /partner/links page.
func (a *App) buildLinks(context.Context) (err error) {
	lcfg := a.parts.links
	lcfg.MarketOrigin, lcfg.Auth, lcfg.Logger = a.cfg.MarketOrigin.String(), a.auth, a.log
	if lcfg.LinkBase == "" && a.cfg.Dev {
		lcfg.LinkBase = a.linkBase()
	}
	if a.links, err = tracker.NewLinks(lcfg); err != nil {
		return err
	}
	a.links.Register(a.api)
	return nil
}

// startLedger starts the referral ledger, which consumes the marketplace's topics and
// produces attributions and commissions (docs/commissions.md), and the console that
// shows its decisions.
func (a *App) startLedger(ctx context.Context) (err error) {
	d := a.deps
	if a.ledger, err = ledger.New(a.parts.ledger, d.redis, d.ch, d.chDB, d.brokers, a.cfg.Keys, a.log); err != nil {
		return err
	}
	if err := a.ledger.Start(ctx); err != nil {
		return fmt.Errorf("cannot start the ledger: %w", err)
	}
	a.adm.AddDependency("ledger", a.ledger.Ready)
	a.ledger.RegisterAdmin(a.adm)
	console, err := review.NewConsole(review.ConsoleConfig{Review: a.review, Ledger: a.ledger, Conn: a.anConn, DB: a.anDB, Logger: a.log})
	if err != nil {
		return err
	}
	console.RegisterAdmin(a.adm)
	return nil
}

// listen opens both listeners; Run serves them.
func (a *App) listen(context.Context) (err error) {
	// The partner app: its shared assets, language switch and API tokens page, then the
	// link builder, then the dashboard.
	partnerApp, err := partnerui.NewHandler(a.auth, a.links.PartnerPages(a.dashboard.Handler), a.log)
	if err != nil {
		return err
	}
	routes := tracker.Routes{
		API:       a.api.Serve,
		Dashboard: partnerApp.Serve,
		Beacon:    a.edge.HandleBeacon(tracker.BeaconConfig{Revocations: a.events.revocations, Redis: a.deps.redis}),
		Banners:   a.banners.ServeHTTP,
		Widget:    a.widget.Serve,
	}
	a.pub = &fasthttp.Server{
		Handler:                       a.edge.Handler(routes),
		Name:                          "refedge",
		ReadTimeout:                   10 * time.Second,
		WriteTimeout:                  10 * time.Second,
		IdleTimeout:                   60 * time.Second,
		MaxRequestBodySize:            1 << 20,
		Concurrency:                   a.cfg.MaxConns,
		MaxConnsPerIP:                 a.cfg.MaxConnsPerIP,
		ReadBufferSize:                8192,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		CloseOnShutdown:               true,
		Logger:                        newFasthttpLogger(a.log),
	}
	pubLn, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("REFEDGE_HTTP_ADDR: %w", err)
	}
	admLn, err := net.Listen("tcp", a.cfg.AdminAddr)
	if err != nil {
		pubLn.Close()
		return fmt.Errorf("REFEDGE_ADMIN_ADDR: %w", err)
	}
	a.pubLn, a.admLn = pubLn, admLn
	a.admSrv = &http.Server{Handler: a.adm, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	return nil
}
