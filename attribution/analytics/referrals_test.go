package analytics_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/attribution/analyticstest"
)

// A referral's state follows from which attribution events it has, whatever their
// times: a late activation fact with an earlier time supersedes the first activation
// (two attribution.activated, one referral, activated at the earlier), and one that
// supersedes a detachment (stamped with the deadline, so later than the activation)
// leaves the referral active. The list, its totals, the CSV, the stats' activations and
// the dashboard all count each referral once, with that state.
func TestReferralStateFromEventsNotTimes(t *testing.T) {
	now := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)
	e := analyticstest.NewEnv(t, func() time.Time { return now })
	ctx := t.Context()
	day := func(m time.Month, d, h int) time.Time { return time.Date(2025, m, d, h, 0, 0, 0, time.UTC) }
	n := 0
	ev := func(typ, user string, ts time.Time) analyticstest.Conversion {
		n++
		return analyticstest.Conversion{EventID: fmt.Sprintf("ev-%d", n), Type: typ, Partner: "p1", UserID: user, TS: ts}
	}
	// Events in the order the ledger emits them. Deadlines are registration + 180 days;
	// the attachment period is shortened so that expiries fall in 2025.
	first := []analyticstest.Conversion{
		ev(analytics.ConvAttributed, "u-double", day(1, 10, 12)),
		ev(analytics.ConvActivated, "u-double", day(3, 5, 10)),
		ev(analytics.ConvAttributed, "u-reactivated", day(1, 11, 12)),
		ev(analytics.ConvDetached, "u-reactivated", day(7, 10, 12)),
		ev(analytics.ConvAttributed, "u-reexpired", day(1, 12, 12)),
		ev(analytics.ConvDetached, "u-reexpired", day(7, 11, 12)),
		ev(analytics.ConvAttributed, "u-detached", day(1, 13, 12)),
		ev(analytics.ConvDetached, "u-detached", day(7, 12, 12)),
		ev(analytics.ConvAttributed, "u-pending", day(6, 1, 12)),
		ev(analytics.ConvAttributed, "u-expired", day(1, 14, 12)),
		ev(analytics.ConvActivated, "u-expired", day(1, 20, 12)),
		ev(analytics.ConvExpired, "u-expired", day(10, 1, 12)),
	}
	// Late activation facts, earlier in event time than what they supersede.
	late := []analyticstest.Conversion{
		ev(analytics.ConvActivated, "u-double", day(2, 3, 9)),
		ev(analytics.ConvActivated, "u-reactivated", day(4, 20, 8)),
		ev(analytics.ConvActivated, "u-reexpired", day(5, 2, 7)),
		ev(analytics.ConvExpired, "u-reexpired", day(11, 15, 12)),
	}
	analyticstest.InsertConversions(ctx, t, e.Conn, e.DB, first)
	analyticstest.InsertConversions(ctx, t, e.Conn, e.DB, late)
	analyticstest.InsertConversions(ctx, t, e.Conn, e.DB, late[:1]) // a retried batch

	at := func(ts time.Time) *time.Time { return &ts }
	want := map[string]struct {
		status          string
		activated, ends *time.Time
	}{
		"u-double":      {"active", at(day(2, 3, 9)), nil},
		"u-reactivated": {"active", at(day(4, 20, 8)), nil},
		"u-reexpired":   {"expired", at(day(5, 2, 7)), at(day(11, 15, 12))},
		"u-detached":    {"detached", nil, at(day(7, 12, 12))},
		"u-pending":     {"pending", nil, nil},
		"u-expired":     {"expired", at(day(1, 20, 12)), at(day(10, 1, 12))},
	}
	wantByStatus := map[string]uint64{"pending": 1, "active": 2, "detached": 1, "expired": 2}
	tok := e.Token("p1")

	var refs analytics.Referrals
	e.GetJSON("/api/v1/referrals", tok, &refs)
	if len(refs.Referrals) != len(want) {
		t.Fatalf("%d referrals, want %d: %+v", len(refs.Referrals), len(want), refs.Referrals)
	}
	for _, r := range refs.Referrals {
		w := want[r.UserID]
		if r.Status != w.status || !sameTime(r.ActivatedAt, w.activated) || !sameTime(r.EndedAt, w.ends) {
			t.Errorf("referral %s: status %s activated %v ended %v; want %s, %v, %v", r.UserID, r.Status,
				fmtOpt(r.ActivatedAt), fmtOpt(r.EndedAt), w.status, fmtOpt(w.activated), fmtOpt(w.ends))
		}
	}
	if refs.Totals.Referrals != 6 || fmt.Sprint(refs.Totals.ByStatus) != fmt.Sprint(wantByStatus) {
		t.Errorf("totals: %d referrals by status %v, want 6 by %v", refs.Totals.Referrals, refs.Totals.ByStatus, wantByStatus)
	}
	// Newest registration first.
	for status, users := range map[string]string{"active": "u-reactivated u-double", "detached": "u-detached", "expired": "u-expired u-reexpired"} {
		var page analytics.Referrals
		e.GetJSON("/api/v1/referrals?status="+status, tok, &page)
		var got []string
		for _, r := range page.Referrals {
			got = append(got, r.UserID)
		}
		if strings.Join(got, " ") != users {
			t.Errorf("?status=%s lists %v, want %s", status, got, users)
		}
	}

	// The CSV export says the same.
	code, body := e.Get("/api/v1/referrals?format=csv", tok)
	if code != http.StatusOK {
		t.Fatalf("referrals CSV: %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(rows) != len(want)+1 {
		t.Fatalf("referrals CSV: %v, %d rows: %s", err, len(rows), body)
	}
	for _, row := range rows[1:] {
		w := want[row[0]]
		if row[1] != w.status || row[3] != analytics.CSVOptTime(w.activated) || row[4] != analytics.CSVOptTime(w.ends) {
			t.Errorf("CSV row %v, want status %s activated %q ended %q", row, w.status, analytics.CSVOptTime(w.activated), analytics.CSVOptTime(w.ends))
		}
	}

	// Activations: one per referral, in the month of its earliest activation.
	q := url.Values{"from": {"2025-01-01T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}, "interval": {"month"}}
	var st analytics.Stats
	e.GetJSON("/api/v1/stats?"+q.Encode(), tok, &st)
	byMonth := map[string]uint64{}
	for _, p := range st.Series {
		if p.Activations > 0 {
			byMonth[p.T.Format("2006-01")] = p.Activations
		}
	}
	wantMonths := map[string]uint64{"2025-01": 1, "2025-02": 1, "2025-04": 1, "2025-05": 1}
	if st.Totals.Activations != 4 || st.Totals.Signups != 6 || fmt.Sprint(byMonth) != fmt.Sprint(wantMonths) {
		t.Errorf("stats: %d activations (by month %v), %d signups; want 4 (%v), 6", st.Totals.Activations, byMonth, st.Totals.Signups, wantMonths)
	}
	code, body = e.Get("/api/v1/stats?format=csv&"+q.Encode(), tok)
	if code != http.StatusOK {
		t.Fatalf("stats CSV: %d %s", code, body)
	}
	if rows, err = csv.NewReader(strings.NewReader(body)).ReadAll(); err != nil {
		t.Fatal(err)
	}
	var csvActivations []string
	for _, row := range rows[1:] {
		csvActivations = append(csvActivations, row[9])
	}
	if got := strings.Join(csvActivations, ","); rows[0][9] != "activations" || got != "1,1,0,1,1,0,0,0,0,0,0,0" {
		t.Errorf("stats CSV %s column: %s, want 1,1,0,1,1,0,0,0,0,0,0,0", rows[0][9], got)
	}

	// The dashboard's figures and its "My referrals" table.
	code, page := e.Page(e.SessionClient("p1"), "/partner?"+q.Encode())
	if code != http.StatusOK {
		t.Fatalf("dashboard: %d", code)
	}
	for id, v := range map[string]string{"activations": "4", "signups": "6", "referrals": "6", "referrals-pending": "1",
		"referrals-active": "2", "referrals-detached": "1", "referrals-expired": "2"} {
		if got := kpiValue(page, id); got != v {
			t.Errorf("dashboard KPI %s = %q, want %s", id, got, v)
		}
	}
	for user, w := range want {
		if !strings.Contains(page, `<tr data-key="`+user+`"><td>`+user+`</td><td><span class="status status-`+w.status+`" data-status="`+w.status+`">`) {
			t.Errorf("dashboard shows %s not as %s", user, w.status)
		}
	}
}

// kpiValue is the value of the dashboard's figure kpi-<id> in page, or "".
func kpiValue(page, id string) string {
	m := regexp.MustCompile(`id="kpi-` + regexp.QuoteMeta(id) + `">.*?<span class="value">([^<]*)</span>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

func fmtOpt(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.Format(time.RFC3339)
}
