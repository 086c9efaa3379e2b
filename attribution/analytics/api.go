package analytics

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/partnerapi"
)

// Register adds the analytics endpoints to the partner API router:
// GET /api/v1/stats, /api/v1/referrals, /api/v1/earnings and /api/v1/clicks, each in JSON
// or, with Accept: text/csv or ?format=csv, CSV. The router has authenticated the partner;
// every query is scoped to Principal.PartnerID.
func (a *Analytics) Register(r *partnerapi.Router) { a.registerOn(r) }

// routeRegistrar is what Register needs of a router.
type routeRegistrar interface {
	Handle(method, pattern string, h partnerapi.Handler)
}

func (a *Analytics) registerOn(r routeRegistrar) {
	r.Handle(fasthttp.MethodGet, "/api/v1/stats", a.serve("stats", a.handleStats))
	r.Handle(fasthttp.MethodGet, "/api/v1/referrals", a.serve("referrals", a.handleReferrals))
	r.Handle(fasthttp.MethodGet, "/api/v1/earnings", a.serve("earnings", a.handleEarnings))
	r.Handle(fasthttp.MethodGet, "/api/v1/clicks", a.serve("clicks", a.handleClicks))
}

// anHandler computes a JSON value (or a CSV table) for a request.
type anHandler func(ctx context.Context, p partnerapi.Principal, get func(string) string, csv bool) (any, *csvTable, error)

// serve wraps h with the concurrency bound, the deadline, error mapping and encoding.
func (a *Analytics) serve(endpoint string, h anHandler) partnerapi.Handler {
	return func(ctx *fasthttp.RequestCtx, p partnerapi.Principal) {
		start := time.Now()
		defer func() { RequestSeconds.WithLabelValues(endpoint).Observe(time.Since(start).Seconds()) }()
		release, err := a.Acquire()
		if err != nil {
			ctx.Response.Header.Set("Retry-After", "1")
			partnerapi.Error(ctx, fasthttp.StatusTooManyRequests, "too many analytics requests at once; retry shortly")
			return
		}
		defer release()
		get := func(k string) string { return string(ctx.QueryArgs().Peek(k)) }
		wantCSV := partnerapi.WantsCSV(ctx)
		// Not derived from the RequestCtx: its Done races with Server.Shutdown (fasthttp),
		// and QueryTimeout bounds the request anyway.
		qctx, cancel := context.WithTimeout(context.Background(), a.Cfg.QueryTimeout)
		defer cancel()
		v, table, err := h(qctx, p, get, wantCSV)
		if err != nil {
			a.writeError(ctx, endpoint, p, err)
			return
		}
		if wantCSV && table != nil {
			writeCSV(ctx, endpoint, table, a.Cfg.MaxCSVRows)
			return
		}
		partnerapi.WriteJSON(ctx, fasthttp.StatusOK, v)
	}
}

func (a *Analytics) writeError(ctx *fasthttp.RequestCtx, endpoint string, p partnerapi.Principal, err error) {
	var pe *ParamError
	switch {
	case errors.As(err, &pe):
		partnerapi.Error(ctx, fasthttp.StatusBadRequest, pe.Error())
	case errors.Is(err, context.DeadlineExceeded) || IsCHTimeout(err):
		analyticsErrors.WithLabelValues(endpoint, "timeout").Inc()
		a.log.Warn("analytics query timed out", "endpoint", endpoint, "partner", p.PartnerID, "err", err)
		partnerapi.Error(ctx, fasthttp.StatusGatewayTimeout, "the query took too long; ask for a shorter range or a coarser interval")
	default:
		analyticsErrors.WithLabelValues(endpoint, "query").Inc()
		a.log.Error("analytics query failed", "endpoint", endpoint, "partner", p.PartnerID, "err", err)
		partnerapi.Error(ctx, fasthttp.StatusServiceUnavailable, "analytics are temporarily unavailable")
	}
}

// isCHTimeout recognises ClickHouse's TIMEOUT_EXCEEDED (code 159) from max_execution_time.
func IsCHTimeout(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 159
}

func (a *Analytics) ParseRange(get func(string) string) (Range, error) {
	return ParseRange(get, a.Cfg.Now(), &a.Cfg)
}

func (a *Analytics) handleStats(ctx context.Context, p partnerapi.Principal, get func(string) string, csv bool) (any, *csvTable, error) {
	r, err := a.ParseRange(get)
	if err != nil {
		return nil, nil, err
	}
	top, err := ParseIntParam(get, "top", a.Cfg.TopN, 1, a.Cfg.MaxTopN)
	if err != nil {
		return nil, nil, err
	}
	part := get("part")
	if part != "" && part != "series" && part != "breakdowns" {
		return nil, nil, ParamErr("part", "want series or breakdowns")
	}
	st, err := a.Stats(ctx, p.PartnerID, StatsQuery{Range: r, Top: top})
	if err != nil {
		return nil, nil, err
	}
	if !csv {
		return st, nil, nil
	}
	if part == "breakdowns" {
		return nil, breakdownsCSV(st), nil
	}
	return nil, SeriesCSV(st), nil
}

func (a *Analytics) handleReferrals(ctx context.Context, p partnerapi.Principal, get func(string) string, csv bool) (any, *csvTable, error) {
	status := get("status")
	if status != "" && !validReferralStatus(status) {
		return nil, nil, ParamErr("status", "want pending, active, detached or expired")
	}
	maxLimit := a.Cfg.MaxPage
	def := 100
	if csv {
		maxLimit, def = a.Cfg.MaxCSVRows, a.Cfg.MaxCSVRows
	}
	limit, err := ParseIntParam(get, "limit", def, 1, maxLimit)
	if err != nil {
		return nil, nil, err
	}
	offset, err := ParseIntParam(get, "offset", 0, 0, 10_000_000)
	if err != nil {
		return nil, nil, err
	}
	rs, err := a.Referrals(ctx, p.PartnerID, ReferralsQuery{Status: status, Limit: limit, Offset: offset})
	if err != nil {
		return nil, nil, err
	}
	if csv {
		return nil, referralsCSV(rs), nil
	}
	return rs, nil, nil
}

func (a *Analytics) handleEarnings(ctx context.Context, p partnerapi.Principal, get func(string) string, csv bool) (any, *csvTable, error) {
	r, err := a.ParseRange(get)
	if err != nil {
		return nil, nil, err
	}
	e, err := a.Earnings(ctx, p.PartnerID, r)
	if err != nil {
		return nil, nil, err
	}
	if csv {
		return nil, earningsCSV(e), nil
	}
	return e, nil, nil
}

func (a *Analytics) handleClicks(ctx context.Context, p partnerapi.Principal, get func(string) string, csv bool) (any, *csvTable, error) {
	r, err := a.ParseRange(get)
	if err != nil {
		return nil, nil, err
	}
	v := get("verdict")
	if _, ok := event.ParseVerdict(v); v != "" && v != "flagged" && !ok {
		return nil, nil, ParamErr("verdict", "want a verdict name or flagged")
	}
	limit, err := ParseIntParam(get, "limit", 100, 1, a.Cfg.MaxPage)
	if err != nil {
		return nil, nil, err
	}
	cs, err := a.Clicks(ctx, p.PartnerID, ClicksQuery{Range: r, Verdict: v, Limit: limit})
	if err != nil {
		return nil, nil, err
	}
	if csv {
		return nil, clicksCSV(cs), nil
	}
	return cs, nil, nil
}

// itoa formats unsigned counts for CSV.
func Itoa(n uint64) string { return strconv.FormatUint(n, 10) }
