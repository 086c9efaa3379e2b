package widget

import (
	"context"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partners"
)

// bg is the context of the public handlers' Redis calls. It is not the request's:
// fasthttp cancels that one when the server shuts down, which would fail the requests
// the graceful drain is meant to finish. The client's own timeouts bound each call.
var bg = context.Background()

// Service serves widgets: the /w/ handler, the partner API, the admin API.
type Service struct {
	cfg       Config
	catalog   *Catalog
	store     *Store
	cache     *widgetCache
	thumbs    *thumbs
	linkBase  string
	publicURL string
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

// New validates cfg and returns a service.
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cat, err := NewCatalog(cfg.Redis, cfg.MarketOrigin)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		catalog:   cat,
		store:     newStore(cfg.Redis, cfg.Sizes),
		cache:     newWidgetCache(cfg.CacheTTL, cfg.CacheEntries),
		linkBase:  trimOrigin(cfg.LinkBase),
		publicURL: trimOrigin(cfg.PublicURL),
		Now:       time.Now,
	}
	s.thumbs = newThumbs(cat, cfg.ThumbCacheBytes, cfg.ThumbWorkers, cfg.ThumbWait)
	cat.drawer = newDrawer(cfg.Redis, cfg.DrawWorkers, cfg.DrawBatch)
	return s, nil
}

// Close makes later random draws fail. Call it after the public listener has drained;
// frames served after Close answer 503.
func (s *Service) Close() {
	if s.catalog.drawer != nil {
		s.catalog.drawer.close()
	}
}

// Catalog returns the kwork catalog (for Apply and NewCatalogConsumer).
func (s *Service) Catalog() *Catalog { return s.catalog }

// Store returns the widget config store.
func (s *Service) Store() *Store { return s.store }

func (s *Service) limits() specLimits {
	return specLimits{sizes: s.cfg.Sizes, maxKwork: s.cfg.MaxKworkIDs}
}

// Handler returns the handler of every /w/ path (tracker.Routes.Widget).
func (s *Service) Handler() fasthttp.RequestHandler { return s.Serve }

// Serve dispatches one /w/ request.
func (s *Service) Serve(ctx *fasthttp.RequestCtx) {
	t := parsePath(ctx.Path())
	get := ctx.IsGet() || ctx.IsHead()
	switch {
	case t.route == routeNone:
		notFound(ctx)
	case t.route == routeView:
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
			return
		}
		s.serveView(ctx, t.id)
	case !get:
		methodNotAllowed(ctx, "GET, HEAD")
	case t.route == routeFrame:
		s.serveFrame(ctx, t.id)
	case t.route == routeLoader:
		s.serveLoader(ctx, t.id)
	case t.route == routeThumb:
		s.serveThumb(ctx, t)
	case t.route == routeBuilder:
		s.serveBuilder(ctx)
	case t.route == routePreview:
		s.servePreview(ctx)
	}
}

func notFound(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "public, max-age=60")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetBodyString("not found\n")
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	ctx.Response.Header.Set("Allow", allow)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetStatusCode(fasthttp.StatusMethodNotAllowed)
	ctx.SetBodyString("method not allowed\n")
}

// resolve returns widget id with its partner's standing, from the cache or Redis.
func (s *Service) resolve(ctx context.Context, id string) (*resolved, error) {
	now := s.Now()
	if r := s.cache.get(id, now); r != nil {
		return r, nil
	}
	r := &resolved{}
	w, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrWidgetNotFound):
	case err != nil:
		return nil, err
	default:
		p, err := s.cfg.Partners.Get(ctx, w.PartnerID)
		switch {
		case errors.Is(err, partners.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			r.partnerActive = p.Status == partners.Active
		}
		r.found = true
		s.prepare(r, w)
	}
	s.cache.put(id, r, now)
	return r, nil
}

// prepare derives what every request for w reuses.
func (s *Service) prepare(r *resolved, w Widget) {
	r.w = w
	r.lay = computeLayout(w.w, w.h, w.Cards)
	r.css = frameCSS(w.Accent, r.lay)
	r.linkSuffix = "ref=" + w.PartnerID + "&src=widget&cr=" + w.ID
	r.loader = buildLoader(s.publicURL+"/w/"+w.ID, &w)
	r.etag = loaderETag(r.loader)
	sk, err := s.buildSkeleton(r)
	if err != nil {
		s.cfg.Log.Error("widget: cannot pre-render the frame; using the template", "widget", w.ID, "err", err)
	}
	r.sk = sk
}
