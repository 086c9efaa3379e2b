package review

import (
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/dashboard"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/refcookie"
	"github.com/refedge/refedge/internal/webasset"
)

//go:embed web/review.html web/review_partner.html web/operator_head.html web/review.css
var reviewFS embed.FS

// Review endpoints on the admin listener.
const (
	reviewAPIPath  = "/admin/v1/review"
	reviewPagePath = "/admin/review"
)

// RegisterAdmin adds the review to the admin listener, all GET and read-only:
// /admin/v1/review (JSON; CSV with ?format=csv or Accept: text/csv),
// /admin/v1/review/{partner}, and the pages /admin/review and /admin/review/{partner}.
func (r *Review) RegisterAdmin(s *admin.Server) {
	s.Handle("GET "+reviewAPIPath, r.handleRanking)
	s.Handle("GET "+reviewAPIPath+"/{partner}", r.handleDetail)
	s.Handle("GET "+reviewPagePath, r.handleRankingPage)
	s.Handle("GET "+reviewPagePath+"/{partner}", r.handleDetailPage)
	s.Handle("GET "+reviewPagePath+"/static/{name}", r.handleAsset)
}

// reviewParams are a request's validated parameters.
type reviewParams struct {
	period Period
	limit  int
	sort   string
}

// parseParams reads from, to (RFC 3339 or YYYY-MM-DD, to exclusive), range ("48h",
// "7d": a span ending at to), limit and sort (score or datacenter_share).
func (r *Review) parseParams(get func(string) string, defLimit, maxLimit int) (reviewParams, error) {
	var p reviewParams
	span, _, err := analytics.ParseSpan(get("range"))
	if err != nil {
		return p, err
	}
	fromS, toS := get("from"), get("to")
	if fromS != "" && span > 0 {
		return p, analytics.ParamErr("range", "give either from or range, not both")
	}
	to := r.cfg.Now().UTC().Truncate(time.Hour).Add(time.Hour)
	if toS != "" {
		if to, err = analytics.ParseTime("to", toS); err != nil {
			return p, err
		}
	}
	if span == 0 {
		span = r.cfg.DefaultRange
	}
	from := to.Add(-span)
	if fromS != "" {
		if from, err = analytics.ParseTime("from", fromS); err != nil {
			return p, err
		}
	}
	from = from.Truncate(time.Hour)
	if t := to.Truncate(time.Hour); !t.Equal(to) {
		to = t.Add(time.Hour)
	}
	switch {
	case !from.Before(to):
		return p, analytics.ParamErr("to", "must be after from")
	case from.Before(analytics.MinTime) || to.After(analytics.MaxTime):
		return p, analytics.ParamErr("from", "times must lie between 2000 and 2100")
	case to.Sub(from) > r.cfg.MaxRange:
		return p, analytics.ParamErr("to", "period longer than %d days", int(r.cfg.MaxRange/(24*time.Hour)))
	}
	p.period = newReviewPeriod(from, to)
	switch p.sort = get("sort"); p.sort {
	case "":
		p.sort = SortScore
	case SortScore, SortDatacenter:
	default:
		return p, analytics.ParamErr("sort", "want %s or %s", SortScore, SortDatacenter)
	}
	p.limit, err = analytics.ParseIntParam(get, "limit", defLimit, 1, maxLimit)
	return p, err
}

// Ranking returns the partners ranked by risk over p (the answer of GET /admin/v1/review).
func (r *Review) Ranking(ctx context.Context, p Period, limit int) (*Ranking, error) {
	return r.RankingBy(ctx, p, limit, SortScore)
}

// RankingBy is Ranking in the order by names (SortScore or SortDatacenter).
func (r *Review) RankingBy(ctx context.Context, p Period, limit int, by string) (*Ranking, error) {
	d, err := r.load(ctx, p, "", 20)
	if err != nil {
		return nil, err
	}
	all := rankPartners(d, 5, r.cfg.FastSignup, by)
	out := &Ranking{Period: p, ScoreVersion: reviewScoreVersion, Sort: by, Total: len(all), Limit: limit,
		Program: programMix(d.cur), Partners: all}
	if len(all) > limit {
		out.Partners = all[:limit]
	}
	return out, nil
}

// Detail returns one partner's figures with samples (GET /admin/v1/review/{partner}).
func (r *Review) Detail(ctx context.Context, p Period, partner string, limit int) (*Detail, error) {
	out := &Detail{Period: p, ScoreVersion: reviewScoreVersion, Limit: limit}
	var d *reviewData
	err := analytics.Parallel(ctx,
		func(ctx context.Context) (err error) { d, err = r.load(ctx, p, partner, 100); return err },
		func(ctx context.Context) (err error) {
			out.Samples, err = r.querySamples(ctx, p, partner, limit)
			return err
		},
		func(ctx context.Context) (err error) {
			out.FastSignups, err = r.queryFastSignups(ctx, p, partner, limit)
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	out.Partner = scorePartner(partner, d, 100, r.cfg.FastSignup)
	out.Reasons = out.Partner.TopReasons
	out.Partner.TopReasons = out.Reasons[:min(5, len(out.Reasons))]
	out.SharedGroups = []SharedGroup{}
	if s := d.shared[partner]; s != nil {
		out.SharedGroups = s.groups
		sort.SliceStable(out.SharedGroups, func(i, j int) bool { return out.SharedGroups[i].Users > out.SharedGroups[j].Users })
		if len(out.SharedGroups) > limit {
			out.SharedGroups = out.SharedGroups[:limit]
		}
	}
	return out, nil
}

// serve runs h under the concurrency bound and the request deadline and maps its error.
func (r *Review) serve(w http.ResponseWriter, req *http.Request, h func(ctx context.Context, get func(string) string) error) error {
	release, err := r.acquire()
	if err != nil {
		w.Header().Set("Retry-After", "2")
		return err
	}
	defer release()
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.QueryTimeout)
	defer cancel()
	q := req.URL.Query()
	return h(ctx, q.Get)
}

// errorStatus maps an error to the status and message an operator sees.
func (r *Review) errorStatus(endpoint string, err error) (int, string) {
	var pe *analytics.ParamError
	switch {
	case errors.As(err, &pe):
		return http.StatusBadRequest, pe.Error()
	case errors.Is(err, errReviewBusy):
		return http.StatusTooManyRequests, "too many review requests at once; retry shortly"
	case errors.Is(err, context.DeadlineExceeded) || analytics.IsCHTimeout(err):
		r.log.Warn("review query timed out", "endpoint", endpoint, "err", err)
		return http.StatusGatewayTimeout, "the review took too long; ask for a shorter period"
	}
	r.log.Error("review query failed", "endpoint", endpoint, "err", err)
	return http.StatusServiceUnavailable, "the review is temporarily unavailable"
}

func wantsCSV(req *http.Request) bool {
	return req.URL.Query().Get("format") == "csv" || strings.Contains(req.Header.Get("Accept"), "text/csv")
}

func (r *Review) handleRanking(w http.ResponseWriter, req *http.Request) {
	var out *Ranking
	err := r.serve(w, req, func(ctx context.Context, get func(string) string) error {
		p, err := r.parseParams(get, r.cfg.DefaultLimit, r.cfg.MaxLimit)
		if err != nil {
			return err
		}
		out, err = r.RankingBy(ctx, p.period, p.limit, p.sort)
		return err
	})
	if err != nil {
		code, msg := r.errorStatus("ranking", err)
		admin.Error(w, code, msg)
		return
	}
	if wantsCSV(req) {
		writeReviewCSV(w, out)
		return
	}
	admin.WriteJSON(w, http.StatusOK, out)
}

func (r *Review) handleDetail(w http.ResponseWriter, req *http.Request) {
	partner := req.PathValue("partner")
	if !refcookie.ValidPartnerID([]byte(partner)) {
		admin.Error(w, http.StatusBadRequest, "partner: not a valid partner ID")
		return
	}
	var out *Detail
	err := r.serve(w, req, func(ctx context.Context, get func(string) string) error {
		p, err := r.parseParams(get, r.cfg.DefaultSamples, r.cfg.MaxSamples)
		if err != nil {
			return err
		}
		out, err = r.Detail(ctx, p.period, partner, p.limit)
		return err
	})
	if err != nil {
		code, msg := r.errorStatus("detail", err)
		admin.Error(w, code, msg)
		return
	}
	admin.WriteJSON(w, http.StatusOK, out)
}

// writeReviewCSV writes one row per listed partner. Partner ids, reason codes and flags
// are neutralised against spreadsheet formulas (analytics.CSVText).
func writeReviewCSV(w http.ResponseWriter, rk *Ranking) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"rank", "partner_id", "score", "traffic", "shift_points", "fast_signup_points", "shared_points", "concentration_points",
		"clicks", "flagged", "flagged_share", "weighted_share", "baseline_clicks", "baseline_weighted_share", "shift", "top_reasons",
		"signups", "matched", "fast_signups", "fast_share", "median_seconds", "shared_signups", "shared_share",
		"currency", "net_commission", "top_referral_share", "referrals", "flags", "datacenter_clicks", "datacenter_share"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, p := range rk.Partners {
		reasons := make([]string, len(p.TopReasons))
		for i, rs := range p.TopReasons {
			reasons[i] = rs.Code + "=" + analytics.Itoa(rs.Clicks)
		}
		median := ""
		if p.Signups.MedianSeconds != nil {
			median = f(*p.Signups.MedianSeconds)
		}
		cur, net, top, refs := "", "", "", ""
		if e := p.Commission; e != nil {
			cur, net, top, refs = analytics.CSVText(e.Currency), analytics.Itoa64(e.Net), f(e.TopShare), analytics.Itoa(e.Referrals)
		}
		c := p.Components
		_ = cw.Write([]string{strconv.Itoa(p.Rank), analytics.CSVText(p.PartnerID), f(p.Score), f(c.Traffic), f(c.Shift), f(c.FastSignups), f(c.SharedVisitors), f(c.Concentration),
			analytics.Itoa(p.Clicks.Total), analytics.Itoa(p.Clicks.Flagged), f(p.Clicks.FlaggedShare), f(p.Clicks.WeightedShare), analytics.Itoa(p.Baseline.Total), f(p.Baseline.WeightedShare), f(p.Shift),
			analytics.CSVText(strings.Join(reasons, " ")), analytics.Itoa(p.Signups.Attributed), analytics.Itoa(p.Signups.Matched), analytics.Itoa(p.Signups.Fast), f(p.Signups.FastShare), median,
			analytics.Itoa(p.Signups.Shared), f(p.Signups.SharedShare), cur, net, top, refs, analytics.CSVText(strings.Join(p.Flags, "; ")),
			analytics.Itoa(p.Clicks.ByVerdict["datacenter"]), f(p.Clicks.DatacenterShare)})
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="refedge-review-`+rk.From.Format("20060102T15")+"-"+rk.To.Format("20060102T15")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// writeSamplesCSV writes the partner page's flagged clicks, one row per sample click
// with its reasons.
func writeSamplesCSV(w http.ResponseWriter, partner string, d *Detail) {
	rows := [][]string{{"time", "click_id", "verdict", "revoked", "reasons", "source", "creative", "sub_id", "referer_host", "path", "device", "browser"}}
	for _, s := range d.Samples {
		codes := make([]string, len(s.Reasons))
		for i, rs := range s.Reasons {
			codes[i] = rs.Code
		}
		rows = append(rows, []string{s.Time.UTC().Format(time.RFC3339), s.ClickID, s.Verdict, strconv.FormatBool(s.Revoked), strings.Join(codes, " "),
			s.Source, s.Creative, s.SubID, s.RefererHost, s.Path, s.Device, s.Browser})
	}
	writeConsoleCSV(w, "review-"+partner+"-"+d.From.Format("20060102T15")+"-"+d.To.Format("20060102T15"), rows)
}

// ---------------------------------------------------------------- pages

var reviewFuncs = template.FuncMap{
	"pct":   analytics.FormatPercent,
	"minus": func(a, b uint64) uint64 { return a - min(a, b) },
	"count": analytics.FormatCount,
	"money": analytics.FormatMoney,
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"secs": func(p *float64) string {
		if p == nil {
			return "—"
		}
		return fmtSeconds(*p)
	},
	"verdicts": func(c Clicks) []verdictCount {
		var out []verdictCount
		for v, n := range c.ByVerdict {
			if v != "valid" {
				out = append(out, verdictCount{v, n, analytics.VerdictText(v)})
			}
		}
		sort.Slice(out, func(i, j int) bool {
			return out[i].N > out[j].N || out[i].N == out[j].N && out[i].Verdict < out[j].Verdict
		})
		return out
	},
}

type verdictCount struct {
	Verdict string
	N       uint64
	Text    string
}

func newReviewPages() (*reviewPages, error) {
	p := &reviewPages{}
	var err error
	if p.ranking, err = template.New("review.html").Funcs(reviewFuncs).ParseFS(reviewFS, "web/review.html", "web/operator_head.html"); err != nil {
		return nil, err
	}
	if p.detail, err = template.New("review_partner.html").Funcs(reviewFuncs).ParseFS(reviewFS, "web/review_partner.html", "web/operator_head.html"); err != nil {
		return nil, err
	}
	// The partner dashboard's style sheet, plus the review's additions.
	if p.assets, err = webasset.New(reviewPagePath+"/static/", time.Hour,
		webasset.File{FS: dashboard.Assets, Path: "web/dashboard.css"}, webasset.File{FS: reviewFS, Path: "web/review.css"}); err != nil {
		return nil, err
	}
	return p, nil
}

func (r *Review) handleAsset(w http.ResponseWriter, req *http.Request) {
	r.pages.assets.ServeHTTP(w, req, req.PathValue("name"))
}

// reviewPage is the data of both pages.
type reviewPage struct {
	Title   string
	Styles  []string
	Error   string
	From    string
	To      string
	Ranges  []reviewRangeLink
	CSV     string
	JSON    string
	Ranking *Ranking
	Sorts   []reviewSortLink
	Detail  *Detail
	// Hrefs maps partner ids to their drill-down page for the same period.
	Hrefs map[string]string
	Back  string
	// The console's additions to the partner page (nil without a console): the
	// partner's referrals and orders, linked to their decisions, and its audit trail.
	Activity *PartnerActivity
	Audit    string
	Console  bool
}

type reviewRangeLink struct{ Label, Href string }

// reviewSortLink orders the ranking page by one sort key.
type reviewSortLink struct {
	Label, Href string
	Active      bool
}

func (r *Review) newPage(title string, p *reviewParams, base string) *reviewPage {
	pg := &reviewPage{Title: title, Hrefs: map[string]string{}, Console: r.console != nil}
	for _, n := range []string{"dashboard.css", "review.css"} {
		pg.Styles = append(pg.Styles, r.pages.assets.URL(n))
	}
	for _, rg := range []struct{ label, v string }{{"24 hours", "24h"}, {"7 days", "7d"}, {"30 days", "30d"}, {"90 days", "90d"}} {
		pg.Ranges = append(pg.Ranges, reviewRangeLink{rg.label, base + "?range=" + rg.v})
	}
	if p != nil {
		pg.From, pg.To = p.period.From.Format(time.RFC3339), p.period.To.Format(time.RFC3339)
	}
	return pg
}

func periodQuery(p Period) string {
	return url.Values{"from": {p.From.Format(time.RFC3339)}, "to": {p.To.Format(time.RFC3339)}}.Encode()
}

func (r *Review) handleRankingPage(w http.ResponseWriter, req *http.Request) {
	var p reviewParams
	var rk *Ranking
	err := r.serve(w, req, func(ctx context.Context, get func(string) string) (err error) {
		if p, err = r.parseParams(get, r.cfg.DefaultLimit, r.cfg.MaxLimit); err != nil {
			return err
		}
		rk, err = r.RankingBy(ctx, p.period, p.limit, p.sort)
		return err
	})
	pg := r.newPage("Partner review", nil, reviewPagePath)
	if err != nil {
		code, msg := r.errorStatus("ranking_page", err)
		pg.Error = msg
		r.render(w, r.pages.ranking, code, pg)
		return
	}
	pg = r.newPage("Partner review", &p, reviewPagePath)
	pg.Ranking = rk
	q := periodQuery(p.period)
	pg.CSV = reviewAPIPath + "?" + q + "&limit=" + strconv.Itoa(p.limit) + "&sort=" + p.sort + "&format=csv"
	pg.JSON = reviewAPIPath + "?" + q + "&limit=" + strconv.Itoa(p.limit) + "&sort=" + p.sort
	for _, by := range []struct{ label, v string }{{"score", SortScore}, {"data-centre share", SortDatacenter}} {
		pg.Sorts = append(pg.Sorts, reviewSortLink{Label: by.label, Href: reviewPagePath + "?" + q + "&limit=" + strconv.Itoa(p.limit) + "&sort=" + by.v, Active: by.v == p.sort})
	}
	for _, pr := range rk.Partners {
		pg.Hrefs[pr.PartnerID] = reviewPagePath + "/" + pr.PartnerID + "?" + q
	}
	r.render(w, r.pages.ranking, http.StatusOK, pg)
}

func (r *Review) handleDetailPage(w http.ResponseWriter, req *http.Request) {
	partner := req.PathValue("partner")
	pg := r.newPage("Partner review · "+partner, nil, reviewPagePath+"/"+url.PathEscape(partner))
	if !refcookie.ValidPartnerID([]byte(partner)) {
		pg.Error = "not a valid partner ID"
		r.render(w, r.pages.detail, http.StatusBadRequest, pg)
		return
	}
	var p reviewParams
	var d *Detail
	err := r.serve(w, req, func(ctx context.Context, get func(string) string) (err error) {
		if p, err = r.parseParams(get, r.cfg.DefaultSamples, r.cfg.MaxSamples); err != nil {
			return err
		}
		d, err = r.Detail(ctx, p.period, partner, p.limit)
		return err
	})
	if err != nil {
		code, msg := r.errorStatus("detail_page", err)
		pg.Error = msg
		r.render(w, r.pages.detail, code, pg)
		return
	}
	if wantsCSV(req) {
		writeSamplesCSV(w, partner, d)
		return
	}
	pg = r.newPage("Partner review · "+partner, &p, reviewPagePath+"/"+partner)
	pg.Detail = d
	pg.CSV = reviewPagePath + "/" + partner + "?" + periodQuery(p.period) + "&format=csv"
	if r.console != nil {
		pg.Audit = consoleAuditPath + partner
		ctx, cancel := context.WithTimeout(req.Context(), r.cfg.QueryTimeout)
		act, err := r.console.partnerActivity(ctx, partner)
		cancel()
		if err != nil {
			r.log.Warn("review: cannot read the partner's referrals and orders", "partner", partner, "err", err)
		}
		pg.Activity = act
	}
	pg.JSON = reviewAPIPath + "/" + partner + "?" + periodQuery(p.period)
	pg.Back = reviewPagePath + "?" + periodQuery(p.period)
	r.render(w, r.pages.detail, http.StatusOK, pg)
}

// render writes a page under a CSP that allows no script at all.
func (r *Review) render(w http.ResponseWriter, t *template.Template, code int, pg *reviewPage) {
	renderOperatorPage(w, r.log, t, code, pg)
}

// renderOperatorPage executes t into a buffer and writes it under the operator pages'
// headers: a CSP that allows no script at all, no framing, no caching. A template error
// answers 500 without a half-written page.
func renderOperatorPage(w http.ResponseWriter, log *slog.Logger, t *template.Template, code int, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		log.Error("operator page template failed", "template", t.Name(), "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
