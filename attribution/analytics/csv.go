package analytics

import (
	"bytes"
	"encoding/csv"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// csvTable is a CSV export: a header and rows of cells.
type csvTable struct {
	header []string
	rows   [][]string
}

// CSVText neutralises a user-supplied cell that a spreadsheet would run as a formula
// (OWASP "CSV injection"): a leading =, +, -, @, tab or carriage return gets a quote.
func CSVText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func CSVOptTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return csvTime(*t)
}

func Itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// writeCSV answers with t, keeping at most maxRows rows; a cut export says so in
// X-Refedge-Truncated.
func writeCSV(ctx *fasthttp.RequestCtx, name string, t *csvTable, maxRows int) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(t.header)
	rows := t.rows
	if len(rows) > maxRows {
		rows = rows[:maxRows]
		ctx.Response.Header.Set("X-Refedge-Truncated", "true")
	}
	_ = w.WriteAll(rows) // writes to memory; WriteAll flushes
	ctx.SetContentType("text/csv; charset=utf-8")
	ctx.Response.Header.Set("Content-Disposition", `attachment; filename="refedge-`+name+`.csv"`)
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetBody(buf.Bytes())
}

// currenciesOf returns the sorted currencies used by any of ms.
func currenciesOf[V any](ms ...map[string]V) []string {
	set := map[string]bool{}
	for _, m := range ms {
		for c := range m {
			set[c] = true
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// seriesCSV has one row per bucket, an earnings column per currency.
func SeriesCSV(st *Stats) *csvTable {
	curs := currenciesOf(st.Totals.Earnings)
	t := &csvTable{header: []string{"t", "clicks", "valid", "flagged", "unique_visitors", "impressions", "embed_clicks", "ctr", "signups", "activations"}}
	for _, c := range curs {
		t.header = append(t.header, "earnings_"+CSVText(c))
	}
	for _, p := range st.Series {
		row := []string{csvTime(p.T), Itoa(p.Clicks), Itoa(p.Valid), Itoa(p.Flagged), Itoa(p.UniqueVisitors), Itoa(p.Impressions),
			Itoa(p.EmbedClicks), strconv.FormatFloat(p.CTR, 'f', 6, 64), Itoa(p.Signups), Itoa(p.Activations)}
		for _, c := range curs {
			row = append(row, Itoa64(p.Earnings[c]))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// breakdownsCSV has one row per (dimension, value); name is a network's organisation.
func breakdownsCSV(st *Stats) *csvTable {
	t := &csvTable{header: []string{"dimension", "key", "text", "clicks", "valid", "flagged", "impressions", "name"}}
	dims := make([]string, 0, len(st.Breakdowns))
	for d := range st.Breakdowns {
		dims = append(dims, d)
	}
	sort.Strings(dims)
	for _, d := range dims {
		for _, r := range st.Breakdowns[d] {
			t.rows = append(t.rows, []string{d, CSVText(r.Key), CSVText(r.Text), Itoa(r.Clicks), Itoa(r.Valid), Itoa(r.Flagged), Itoa(r.Impressions), CSVText(r.Name)})
		}
	}
	return t
}

// referralsCSV has one row per referral, an earned column per currency.
func referralsCSV(rs *Referrals) *csvTable {
	curs := currenciesOf(rs.Totals.Earned)
	t := &csvTable{header: []string{"user_id", "status", "registered_at", "activated_at", "ended_at", "orders"}}
	for _, c := range curs {
		t.header = append(t.header, "earned_"+CSVText(c))
	}
	for _, r := range rs.Referrals {
		row := []string{CSVText(r.UserID), r.Status, CSVOptTime(r.RegisteredAt), CSVOptTime(r.ActivatedAt), CSVOptTime(r.EndedAt), Itoa(r.Orders)}
		for _, c := range curs {
			row = append(row, Itoa64(r.Earned[c]))
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// earningsCSV has one row per (bucket, currency).
func earningsCSV(e *Earnings) *csvTable {
	t := &csvTable{header: []string{"t", "currency", "accrued", "reversed", "net", "accruals", "reversals"}}
	curs := currenciesOf(e.Totals)
	for _, p := range e.Series {
		for _, c := range curs {
			a := p.Currencies[c]
			t.rows = append(t.rows, []string{csvTime(p.T), CSVText(c), Itoa64(a.Accrued), Itoa64(a.Reversed), Itoa64(a.Net), Itoa(a.Accruals), Itoa(a.Reversals)})
		}
	}
	return t
}

// clicksCSV has one row per click; reasons are joined with spaces.
func clicksCSV(cs *ClickSamples) *csvTable {
	t := &csvTable{header: []string{"ts", "click_id", "verdict", "reasons", "source", "creative", "sub_id", "referer_host", "path", "device", "browser"}}
	for _, c := range cs.Clicks {
		codes := make([]string, len(c.Reasons))
		for i, r := range c.Reasons {
			codes[i] = r.Code
		}
		t.rows = append(t.rows, []string{csvTime(c.Time), c.ClickID, c.Verdict, CSVText(strings.Join(codes, " ")), CSVText(c.Source),
			CSVText(c.Creative), CSVText(c.SubID), CSVText(c.RefererHost), CSVText(c.Path), CSVText(c.Device), CSVText(c.Browser)})
	}
	return t
}
