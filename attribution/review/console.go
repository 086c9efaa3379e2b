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
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/ledger"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/refcookie"
)

// The operator console for people: the review's ranking and partner pages (http.go)
// plus, linked from them, one page per order and per referral with the ledger's
// per-(order, role) commission decisions and their reasons, a lookup box for either, and
// each partner's audit trail. Every page reads only, answers CSV with ?format=csv, and
// runs under the review's no-script CSP.

//go:embed web/console.html web/operator_head.html
var consoleFS embed.FS

// Console page paths.
const (
	consoleOrderPath    = "/admin/orders/"
	consoleReferralPath = "/admin/referrals/"
	consoleAuditPath    = "/admin/audit/"
	consoleLookupPath   = "/admin/lookup"
)

// ConsoleLedger is what the console reads of the ledger (ledger.Service).
type ConsoleLedger interface {
	OrderDecisions(ctx context.Context, id string) (ledger.OrderDecisions, error)
	Referral(ctx context.Context, user string) (ledger.ReferralView, error)
}

// ConsoleConfig configures the console.
type ConsoleConfig struct {
	// Review is the operator review the console extends; its partner page gains the
	// partner's referrals, orders and audit link.
	Review *Review
	// Ledger answers the decisions; nil shows "not available" on the order and referral
	// pages.
	Ledger ConsoleLedger
	// Conn and DB hold the audit trail and the conversions (the analytics pool).
	Conn   driver.Conn
	DB     string
	Logger *slog.Logger
}

// Console serves the console pages.
type Console struct {
	cfg  ConsoleConfig
	tmpl *template.Template
}

// NewConsole returns the console and attaches it to cfg.Review.
func NewConsole(cfg ConsoleConfig) (*Console, error) {
	if cfg.Review == nil || cfg.Conn == nil || cfg.DB == "" {
		return nil, errors.New("console: Review, Conn and DB are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t, err := template.New("console.html").Funcs(reviewFuncs).Funcs(template.FuncMap{
		"orderHref":    func(id string) string { return consoleOrderPath + url.PathEscape(id) },
		"referralHref": func(id string) string { return consoleReferralPath + url.PathEscape(id) },
		"partnerHref":  func(id string) string { return reviewPagePath + "/" + url.PathEscape(id) },
		"auditHref":    func(id string) string { return consoleAuditPath + url.PathEscape(id) },
		"amount":       func(n int64) string { return strconv.FormatInt(n, 10) },
		// money writes minor units with the currency's ISO 4217 exponent; a line not
		// decided (no currency) has no amount.
		"money": func(n int64, cur string) string {
			if cur == "" {
				return "—"
			}
			return analytics.FormatMoney(n, cur)
		},
		"deref": func(p *int64) int64 { return *p },
	}).ParseFS(consoleFS, "web/console.html", "web/operator_head.html")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, tmpl: t}
	cfg.Review.console = c
	return c, nil
}

// RegisterAdmin adds the console's pages to the admin listener.
func (c *Console) RegisterAdmin(s *admin.Server) {
	s.Handle("GET /admin/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, reviewPagePath, http.StatusSeeOther)
	})
	s.Handle("GET "+consoleLookupPath, c.handleLookup)
	s.Handle("GET "+consoleOrderPath+"{id}", c.handleOrder)
	s.Handle("GET "+consoleReferralPath+"{id}", c.handleReferral)
	s.Handle("GET "+consoleAuditPath+"{partner}", c.handleAudit)
}

// consolePage is the data of the console's own pages.
type consolePage struct {
	Kind     string // "order", "referral", "audit"
	Title    string
	Styles   []string
	Error    string
	CSV      string
	JSON     string
	ID       string
	Order    *ledger.OrderDecisions
	Referral *ledger.ReferralView
	Audit    []sink.AuditRow
	Partner  string
}

func (c *Console) page(kind, title, id string) *consolePage {
	pg := &consolePage{Kind: kind, Title: title, ID: id}
	for _, n := range []string{"dashboard.css", "review.css"} {
		pg.Styles = append(pg.Styles, c.cfg.Review.pages.assets.URL(n))
	}
	return pg
}

func (c *Console) render(w http.ResponseWriter, code int, pg *consolePage) {
	renderOperatorPage(w, c.cfg.Logger, c.tmpl, code, pg)
}

// writeConsoleCSV writes rows (the first the header) as a download; every cell is neutralised
// against spreadsheet formulas.
func writeConsoleCSV(w http.ResponseWriter, name string, rows [][]string) {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	for i, row := range rows {
		if i > 0 {
			for j := range row {
				row[j] = analytics.CSVText(row[j])
			}
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="refedge-`+name+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

func decisionRows(lines []ledger.Decision) [][]string {
	rows := [][]string{{"order_id", "role", "referral_user_id", "partner_id", "status", "reason", "at", "base_amount", "rate_bp", "amount", "currency", "refunded_base", "reversed_amount"}}
	for _, d := range lines {
		at := ""
		if !d.At.IsZero() {
			at = d.At.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{d.OrderID, d.Role, d.ReferralUserID, d.PartnerID, d.Status, d.Reason, at,
			strconv.FormatInt(d.BaseAmount, 10), strconv.FormatInt(d.RateBP, 10), strconv.FormatInt(d.Amount, 10), d.Currency,
			strconv.FormatInt(d.RefundedBase, 10), strconv.FormatInt(d.ReversedAmount, 10)})
	}
	return rows
}

// ledgerRead runs read under the review's deadline and maps its error to a page message.
func (c *Console) ledgerRead(w http.ResponseWriter, r *http.Request, pg *consolePage, what string, read func(ctx context.Context) error) bool {
	if !ledger.ValidEntityID(pg.ID) {
		pg.Error = "not a valid " + what + " id"
		c.render(w, http.StatusBadRequest, pg)
		return false
	}
	if c.cfg.Ledger == nil {
		pg.Error = "the ledger is not available on this process"
		c.render(w, http.StatusServiceUnavailable, pg)
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Review.cfg.QueryTimeout)
	defer cancel()
	err := read(ctx)
	switch {
	case errors.Is(err, ledger.ErrNoRecord):
		pg.Error = "the ledger holds no record of this " + what
		c.render(w, http.StatusNotFound, pg)
		return false
	case err != nil:
		c.cfg.Logger.Error("console ledger read failed", "what", what, "err", err)
		pg.Error = "cannot read the ledger"
		c.render(w, http.StatusServiceUnavailable, pg)
		return false
	}
	return true
}

func (c *Console) handleOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pg := c.page("order", "Order "+id, id)
	var v ledger.OrderDecisions
	if !c.ledgerRead(w, r, pg, "order", func(ctx context.Context) (err error) { v, err = c.cfg.Ledger.OrderDecisions(ctx, id); return err }) {
		return
	}
	if wantsCSV(r) {
		writeConsoleCSV(w, "order-"+id, decisionRows(v.Lines))
		return
	}
	pg.Order = &v
	pg.CSV = consoleOrderPath + url.PathEscape(id) + "?format=csv"
	pg.JSON = "/admin/v1/orders/" + url.PathEscape(id) + "/decisions"
	c.render(w, http.StatusOK, pg)
}

func (c *Console) handleReferral(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	pg := c.page("referral", "Referral "+id, id)
	var v ledger.ReferralView
	if !c.ledgerRead(w, r, pg, "referral", func(ctx context.Context) (err error) { v, err = c.cfg.Ledger.Referral(ctx, id); return err }) {
		return
	}
	if wantsCSV(r) {
		writeConsoleCSV(w, "referral-"+id, decisionRows(v.Lines))
		return
	}
	pg.Referral = &v
	pg.CSV = consoleReferralPath + url.PathEscape(id) + "?format=csv"
	pg.JSON = "/admin/v1/referrals/" + url.PathEscape(id)
	c.render(w, http.StatusOK, pg)
}

// handleLookup sends an order id or a user id typed into the lookup box to its page.
func (c *Console) handleLookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, k := range []struct{ param, path string }{{"order", consoleOrderPath}, {"user", consoleReferralPath}} {
		if v := q.Get(k.param); v != "" {
			if !ledger.ValidEntityID(v) {
				pg := c.page("lookup", "Lookup", v)
				pg.Error = "not a valid " + k.param + " id"
				c.render(w, http.StatusBadRequest, pg)
				return
			}
			http.Redirect(w, r, k.path+url.PathEscape(v), http.StatusSeeOther)
			return
		}
	}
	http.Redirect(w, r, reviewPagePath, http.StatusSeeOther)
}

// auditLimit is how many entries the audit page shows (newest first).
const auditLimit = 500

func (c *Console) handleAudit(w http.ResponseWriter, r *http.Request) {
	partner := r.PathValue("partner")
	pg := c.page("audit", "Audit trail · "+partner, partner)
	pg.Partner = partner
	if !refcookie.ValidPartnerID([]byte(partner)) {
		pg.Error = "not a valid partner ID"
		c.render(w, http.StatusBadRequest, pg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.Review.cfg.QueryTimeout)
	defer cancel()
	rows, err := sink.ReadAudit(ctx, c.cfg.Conn, c.cfg.DB, partner, auditLimit)
	if err != nil {
		c.cfg.Logger.Error("console audit read failed", "err", err)
		pg.Error = "cannot read the audit trail"
		c.render(w, http.StatusServiceUnavailable, pg)
		return
	}
	if wantsCSV(r) {
		out := [][]string{{"time", "operator", "role", "method", "route", "target", "partner_id", "status", "before", "after"}}
		for _, e := range rows {
			out = append(out, []string{e.Time.UTC().Format(time.RFC3339), e.Operator, e.Role, e.Method, e.Route, e.Target, e.Partner,
				strconv.Itoa(e.Status), e.Before, e.After})
		}
		writeConsoleCSV(w, "audit-"+partner, out)
		return
	}
	pg.Audit = rows
	pg.CSV = consoleAuditPath + url.PathEscape(partner) + "?format=csv"
	c.render(w, http.StatusOK, pg)
}

// PartnerActivity is what the partner page shows of a partner's money: its newest
// referrals and the orders with a commission event, each linked to its decisions.
type PartnerActivity struct {
	Referrals []PartnerReferral
	Orders    []PartnerOrder
}

// PartnerReferral is one referred user.
type PartnerReferral struct {
	UserID string
	First  time.Time
	Last   string // the newest event type
}

// PartnerOrder is one (order, role) with commission events.
type PartnerOrder struct {
	OrderID, Role, UserID, Last string
	At                          time.Time
}

// activityLimit bounds each list of the partner page.
const activityLimit = 50

// partnerActivity reads the partner's newest referrals and orders from the conversions
// the ledger produced.
func (c *Console) partnerActivity(ctx context.Context, partner string) (*PartnerActivity, error) {
	out := &PartnerActivity{}
	rows, err := c.cfg.Conn.Query(ctx, "SELECT user_id, min(ts), argMax(type, ts) FROM "+c.cfg.DB+".conversions WHERE partner_id = ? AND user_id != '' GROUP BY user_id ORDER BY max(ts) DESC, user_id LIMIT "+strconv.Itoa(activityLimit), partner)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p PartnerReferral
		if err := rows.Scan(&p.UserID, &p.First, &p.Last); err != nil {
			rows.Close()
			return nil, err
		}
		out.Referrals = append(out.Referrals, p)
	}
	rows.Close()
	rows, err = c.cfg.Conn.Query(ctx, "SELECT order_id, role, any(user_id), argMax(type, ts), max(ts) FROM "+c.cfg.DB+".conversions WHERE partner_id = ? AND order_id != '' GROUP BY order_id, role ORDER BY max(ts) DESC, order_id LIMIT "+strconv.Itoa(activityLimit), partner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var o PartnerOrder
		if err := rows.Scan(&o.OrderID, &o.Role, &o.UserID, &o.Last, &o.At); err != nil {
			return nil, err
		}
		out.Orders = append(out.Orders, o)
	}
	return out, rows.Err()
}
