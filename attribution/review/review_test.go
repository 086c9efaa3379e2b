package review

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/testenv"
)

// reviewSim generates a program's traffic for the review: one partner stuffs cookies,
// the others are honest in different ways.
type reviewSim struct {
	rng     *rand.Rand
	n       int
	clicks  [][]any
	revs    [][]any
	convs   [][]any
	hostile string
}

const reviewHostileReason = `ad:utm_medium=<img src=x id=pwned onerror=alert(1)>`

func (s *reviewSim) id(prefix string) string {
	s.n++
	return fmt.Sprintf("%s-%06d", prefix, s.n)
}

// click records a click and returns its id.
func (s *reviewSim) click(partner string, ts time.Time, verdict string, reasons []string, vid, vhash string) string {
	id := s.id("c")
	if vid == "" {
		vid = s.id("v")
	}
	if vhash == "" {
		vhash = s.id("h")
	}
	if reasons == nil {
		reasons = []string{}
	}
	s.clicks = append(s.clicks, []any{id, ts.UTC(), partner, verdict, reasons, "link", "", "", vid, vhash,
		"blog.example", "/categories/design", "", "desktop", "Chrome", "Mozilla/5.0 test", "", uint32(0)})
	return id
}

func (s *reviewSim) revoke(partner, clickID string, clickTS time.Time, verdict string, reasons []string) {
	s.revs = append(s.revs, []any{clickID, clickTS.Add(2 * time.Second).UTC(), clickTS.UTC(), partner, verdict, reasons})
}

// signup attributes a new user to partner through a valid click made wait before it.
func (s *reviewSim) signup(partner string, at time.Time, wait time.Duration, vid, vhash string) string {
	c := s.click(partner, at.Add(-wait), "valid", nil, vid, vhash)
	user := s.id("u")
	s.convs = append(s.convs, []any{s.id("e"), at.UTC(), "attribution.attributed", partner, user, c, "", "", "", int64(0), uint32(0), int64(0), ""})
	return user
}

func (s *reviewSim) commission(partner, user string, at time.Time, amount int64) {
	order := s.id("o")
	s.convs = append(s.convs, []any{s.id("e"), at.UTC(), "commission.accrued", partner, user, "", order, "buyer", order + ":buyer",
		amount * 28, uint32(350), amount, "RUB"})
}

// within returns a random time in [from, from+span).
func (s *reviewSim) within(from time.Time, span time.Duration) time.Time {
	return from.Add(time.Duration(s.rng.Int64N(int64(span/time.Second))) * time.Second)
}

// simulateReview builds the period [end-7d, end) and its baseline [end-14d, end-7d).
func simulateReview(end time.Time) *reviewSim {
	s := &reviewSim{rng: rand.New(rand.NewPCG(11, 42))}
	week := 7 * 24 * time.Hour
	cur, base := end.Add(-week), end.Add(-2*week)
	honestClicks := func(p string, from time.Time, n int, flagged map[string][]string, share float64) {
		verdicts := make([]string, 0, len(flagged))
		for v := range flagged {
			verdicts = append(verdicts, v)
		}
		slices.Sort(verdicts) // deterministic: the same program every run
		for i := range n {
			t := s.within(from, week)
			if len(verdicts) > 0 && s.rng.Float64() < share {
				v := verdicts[i%len(verdicts)]
				s.click(p, t, v, flagged[v], "", "")
				continue
			}
			s.click(p, t, "valid", nil, "", "")
		}
	}
	honestSignups := func(p string, n int, earn bool) {
		for range n {
			// People take minutes to days between the click and the signup.
			wait := 5*time.Minute + time.Duration(s.rng.Int64N(int64(72*time.Hour)))
			u := s.signup(p, s.within(cur.Add(3*24*time.Hour), 4*24*time.Hour-time.Hour), wait, "", "")
			if earn {
				s.commission(p, u, end.Add(-time.Hour), 1000+int64(s.rng.IntN(500)))
			}
		}
	}

	// The cookie stuffer: an honest-looking baseline, then hidden iframes everywhere;
	// the few clicks that pass as valid (browsers without Fetch Metadata) are followed
	// by signups seconds later, many from a handful of networks and browsers.
	honestClicks("stuffer", base, 150, map[string][]string{"bot": {"ua:crawler"}}, 0.03)
	for range 600 {
		s.click("stuffer", s.within(cur, week), "hidden_frame", []string{"fetch:dest=iframe"}, "", "")
	}
	for range 40 {
		s.click("stuffer", s.within(cur, week), "hidden_frame", []string{"fetch:dest=image"}, "", "")
	}
	for i := range 15 {
		t := s.within(cur, week)
		c := s.click("stuffer", t, "valid", nil, "", "")
		if i < 10 {
			s.revoke("stuffer", c, t, "popunder", []string{"beacon:opener", "beacon:behind"})
		}
	}
	for i := range 40 {
		wait := time.Duration(2+s.rng.IntN(15)) * time.Second
		vid, vhash := "", ""
		if i%2 == 0 {
			vhash = fmt.Sprintf("stuffnet-%d", i%3)
		}
		if i%5 == 0 {
			vid = "stuff-browser-1"
		}
		u := s.signup("stuffer", s.within(cur, week-time.Hour).Add(time.Minute), wait, vid, vhash)
		if i < 12 {
			s.commission("stuffer", u, end.Add(-time.Hour), 800)
		}
	}

	// Honest partners: a blogger with a little bot traffic and one quick signup, a site
	// with some ad traffic (one hostile reason code), a viral post, a newcomer whose
	// five clicks are all bots, and one whose commission comes mostly from one referral.
	honestClicks("blogger", base, 700, map[string][]string{"bot": {"ua:crawler"}, "duplicate": {"dup:visitor-partner"}}, 0.05)
	honestClicks("blogger", cur, 800, map[string][]string{"bot": {"ua:crawler"}, "duplicate": {"dup:visitor-partner"}}, 0.05)
	honestSignups("blogger", 30, true)
	s.signup("blogger", cur.Add(50*time.Hour), 12*time.Second, "", "")
	honestClicks("coupons", base, 300, map[string][]string{"context_ad": {"ad:gclid"}}, 0.08)
	honestClicks("coupons", cur, 300, map[string][]string{"context_ad": {"ad:gclid"}}, 0.1)
	s.click("coupons", cur.Add(time.Hour), "context_ad", []string{reviewHostileReason}, "", "")
	honestSignups("coupons", 10, false)
	honestClicks("viral", base, 50, nil, 0)
	honestClicks("viral", cur, 2000, map[string][]string{"rate_limited": {"rate:ip"}}, 0.01)
	honestSignups("viral", 50, true)
	for range 5 {
		s.click("newbie", s.within(cur, week), "bot", []string{"ua:headless"}, "", "")
	}
	honestClicks("loyal", base, 100, nil, 0)
	honestClicks("loyal", cur, 100, nil, 0)
	for i, u := range []string{s.signup("loyal", cur.Add(24*time.Hour), 2*time.Hour, "", ""), s.signup("loyal", cur.Add(48*time.Hour), 9*time.Hour, "", "")} {
		s.commission("loyal", u, end.Add(-time.Hour), []int64{19000, 1000}[i])
	}
	// Clicks on IDs that belong to no partner are nobody's doing.
	for range 50 {
		s.click("no-such-partner", s.within(cur, week), "unknown_partner", []string{"partner:unknown"}, "", "")
	}
	return s
}

// insert writes the rows with explicit column lists (ClickHouse 18.16 batch inserts).
func (s *reviewSim) insert(t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	s.insertCtx(t.Context(), t, conn, db)
}

// InsertReviewSimulation writes the simulated program of the review tests, ending at end,
// for tests outside the package (the two-shard cluster test).
func InsertReviewSimulation(ctx context.Context, t testing.TB, conn driver.Conn, db string, end time.Time) {
	t.Helper()
	simulateReview(end).insertCtx(ctx, t, conn, db)
}

func (s *reviewSim) insertCtx(ctx context.Context, t testing.TB, conn driver.Conn, db string) {
	t.Helper()
	for _, tb := range []struct {
		table, cols string
		rows        [][]any
	}{
		{"clicks", sink.ClickColumns, s.clicks},
		{"click_revocations", "click_id, ts, click_ts, partner_id, verdict, reasons", s.revs},
		{"conversions", "event_id, ts, type, partner_id, user_id, click_id, order_id, role, idempotency_key, base_amount, rate_bp, amount, currency", s.convs},
	} {
		b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+tb.table+" ("+tb.cols+")")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tb.rows {
			if err := b.Append(r...); err != nil {
				t.Fatalf("%s: %v", tb.table, err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatalf("%s: %v", tb.table, err)
		}
	}
}

// reviewEnv is the review on the admin listener over real ClickHouse with the simulated
// program.
type reviewEnv struct {
	t      *testing.T
	review *Review
	conn   driver.Conn
	db     string
	base   string // admin listener URL
	end    time.Time
	sim    *reviewSim
}

func newReviewEnv(t *testing.T) *reviewEnv {
	t.Helper()
	conn, db := testenv.ClickHouse(t)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := sink.Migrate(t.Context(), conn, db, log); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	end := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	sim := simulateReview(end)
	sim.insert(t, conn, db)
	r, err := New(Config{Conn: conn, DB: db, Logger: log, Now: func() time.Time { return end.Add(-30 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	adm := admintest.New(log)
	r.RegisterAdmin(adm)
	cons, err := NewConsole(ConsoleConfig{Review: r, Ledger: fakeConsoleLedger{}, Conn: conn, DB: db, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cons.RegisterAdmin(adm)
	srv := httptest.NewServer(adm)
	t.Cleanup(srv.Close)
	return &reviewEnv{t: t, review: r, conn: conn, db: db, base: srv.URL, end: end, sim: sim}
}

func (e *reviewEnv) get(path string, hdr ...string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.base+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if req.Header.Get("Authorization") == "" {
		admintest.AsViewer(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (e *reviewEnv) getJSON(path string, v any) {
	e.t.Helper()
	code, _, body := e.get(path)
	if code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
}

func reasonCodes(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

// Acceptance 3 through the API: with one partner stuffing cookies and the others
// honest, the stuffer ranks first with the reasons shown; the honest partners, viral
// and bot-touched ones included, stay low.
func TestReviewRanksStufferFirst(t *testing.T) {
	e := newReviewEnv(t)
	var rk Ranking
	e.getJSON("/admin/v1/review", &rk) // default period: the 7 days ending now
	if !rk.From.Equal(e.end.Add(-7*24*time.Hour)) || !rk.To.Equal(e.end) || !rk.BaselineFrom.Equal(e.end.Add(-14*24*time.Hour)) {
		t.Fatalf("period %v..%v baseline from %v", rk.From, rk.To, rk.BaselineFrom)
	}
	var order []string
	for _, p := range rk.Partners {
		order = append(order, fmt.Sprintf("%s=%.1f", p.PartnerID, p.Score))
	}
	t.Logf("ranking: %s", strings.Join(order, " "))
	if rk.Total != 6 || len(rk.Partners) != 6 {
		t.Fatalf("%d partners listed of %d, want the 6 real ones (unknown IDs left out): %v", len(rk.Partners), rk.Total, order)
	}
	top := rk.Partners[0]
	if top.PartnerID != "stuffer" || top.Rank != 1 {
		t.Fatalf("first is %s, want stuffer: %v", top.PartnerID, order)
	}
	if top.Score < 60 || rk.Partners[1].Score > top.Score/2 {
		t.Fatalf("stuffer %.1f, next %.1f: the gap is too small", top.Score, rk.Partners[1].Score)
	}
	for _, p := range rk.Partners[1:] {
		if p.Score > 20 {
			t.Errorf("honest partner %s scores %.1f (%+v)", p.PartnerID, p.Score, p.Components)
		}
	}
	// The figures behind the rank.
	c := top.Clicks
	if c.Total != 695 || c.Flagged != 650 || c.ByVerdict["hidden_frame"] != 640 || c.ByVerdict["popunder"] != 10 || c.ByVerdict["valid"] != 45 {
		t.Fatalf("stuffer clicks %+v (want 640 hidden_frame, 10 popunder by the beacon, 45 valid)", c)
	}
	if top.Baseline.Total != 150 || top.BaselineFrom != "partner" || top.Shift < 0.5 {
		t.Fatalf("stuffer baseline %+v shift %v", top.Baseline, top.Shift)
	}
	if codes := reasonCodes(top.TopReasons); len(codes) < 3 || codes[0] != "fetch:dest=iframe" || codes[1] != "fetch:dest=image" ||
		top.TopReasons[0].Clicks != 600 || top.TopReasons[0].Text == "" {
		t.Fatalf("stuffer reasons %+v", top.TopReasons)
	}
	s := top.Signups
	if s.Attributed != 40 || s.Matched != 40 || s.Fast != 40 || s.Buckets["lt10s"]+s.Buckets["lt30s"] != 40 || s.MedianSeconds == nil || *s.MedianSeconds > 20 {
		t.Fatalf("stuffer signups %+v", s)
	}
	if s.Shared < 20 || s.SharedShare < 0.5 {
		t.Fatalf("stuffer shared signups %d (%v)", s.Shared, s.SharedShare)
	}
	if len(top.Flags) < 3 || !strings.Contains(top.Flags[0], "hidden_frame") || !strings.Contains(strings.Join(top.Flags, "|"), "less than 30s after their click") {
		t.Fatalf("stuffer flags %q", top.Flags)
	}
	byID := map[string]PartnerRisk{}
	for _, p := range rk.Partners {
		byID[p.PartnerID] = p
	}
	if b := byID["blogger"]; b.Signups.Fast != 1 || b.Signups.Attributed != 31 || b.Signups.Shared != 0 {
		t.Errorf("blogger signups %+v", b.Signups)
	}
	if l := byID["loyal"]; l.Commission == nil || l.Commission.TopShare != 0.95 || l.Components.Concentration < 5 {
		t.Errorf("loyal concentration %+v %+v", l.Commission, l.Components)
	}
	if n := byID["newbie"]; n.Clicks.Flagged != 5 || n.Score > 10 {
		t.Errorf("newbie %+v score %v: five bot clicks are not yet a pattern", n.Clicks, n.Score)
	}

	// limit, CSV.
	var one Ranking
	e.getJSON("/admin/v1/review?limit=1&range=7d", &one)
	if len(one.Partners) != 1 || one.Total != 6 || one.Partners[0].PartnerID != "stuffer" {
		t.Fatalf("limit=1: %+v", one.Partners)
	}
	code, h, body := e.get("/admin/v1/review?format=csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || err != nil || len(rows) != 7 {
		t.Fatalf("CSV: %d %s %v, %d rows", code, h.Get("Content-Type"), err, len(rows))
	}
	if rows[0][1] != "partner_id" || rows[1][1] != "stuffer" || !strings.Contains(rows[1][15], "fetch:dest=iframe=600") {
		t.Fatalf("CSV rows %q / %q", rows[0], rows[1])
	}
	if code, h, _ := e.get("/admin/v1/review", "Accept", "text/csv"); code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") {
		t.Fatalf("Accept: text/csv: %d %s", code, h.Get("Content-Type"))
	}
}

// The data-centre share is a column of the ranking (JSON, CSV, page) and a sort key:
// with a click farm on cloud servers and a blogger with a few data-centre clicks added
// to the simulated program, sort=datacenter_share ranks the farm first, then the
// blogger, then the rest by score; each share is data-centre clicks over all clicks.
func TestReviewRanksByDatacenterShare(t *testing.T) {
	e := newReviewEnv(t)
	s := &reviewSim{rng: rand.New(rand.NewPCG(7, 7)), n: 1_000_000}
	cur := e.end.Add(-7 * 24 * time.Hour)
	for i := range 400 {
		v, reasons := "valid", []string(nil)
		if i%4 != 0 {
			v, reasons = "datacenter", []string{"net:datacenter", "net:asn=16509"}
		}
		s.click("cloudfarm", s.within(cur, 7*24*time.Hour), v, reasons, "", "")
	}
	for range 8 {
		s.click("blogger", s.within(cur, 7*24*time.Hour), "datacenter", []string{"net:datacenter", "net:asn=24940"}, "", "")
	}
	s.insert(t, e.conn, e.db)

	var rk Ranking
	e.getJSON("/admin/v1/review?sort=datacenter_share", &rk)
	var order []string
	for _, p := range rk.Partners {
		order = append(order, fmt.Sprintf("%s=%.4f/%.1f", p.PartnerID, p.Clicks.DatacenterShare, p.Score))
	}
	t.Logf("by data-centre share: %s", strings.Join(order, " "))
	if rk.Sort != SortDatacenter || len(rk.Partners) != 7 || rk.Partners[0].PartnerID != "cloudfarm" || rk.Partners[1].PartnerID != "blogger" {
		t.Fatalf("sort %q, order %v: want cloudfarm, blogger first", rk.Sort, order)
	}
	farm, blogger := rk.Partners[0], rk.Partners[1]
	if farm.Clicks.Total != 400 || farm.Clicks.ByVerdict["datacenter"] != 300 || farm.Clicks.DatacenterShare != 0.75 {
		t.Fatalf("cloudfarm clicks %+v, want 300 datacenter of 400 (0.75)", farm.Clicks)
	}
	if want := round4(8.0 / float64(blogger.Clicks.Total)); blogger.Clicks.ByVerdict["datacenter"] != 8 || blogger.Clicks.DatacenterShare != want {
		t.Fatalf("blogger clicks %+v, want 8 datacenter (share %v)", blogger.Clicks, want)
	}
	// The rest (no data-centre clicks) keep the score order.
	for i := 3; i < len(rk.Partners); i++ {
		if a, b := rk.Partners[i-1], rk.Partners[i]; a.Clicks.DatacenterShare != 0 || a.Score < b.Score {
			t.Errorf("after the data-centre partners, %s (%v) before %s (%v)", a.PartnerID, a.Score, b.PartnerID, b.Score)
		}
	}
	// The score counts data-centre clicks as it counts bots: the farm is not first by score.
	var byScore Ranking
	e.getJSON("/admin/v1/review", &byScore)
	if byScore.Sort != SortScore || byScore.Partners[0].PartnerID != "stuffer" || farm.Components.Traffic < 10 {
		t.Errorf("by score: first %s, farm traffic points %v", byScore.Partners[0].PartnerID, farm.Components.Traffic)
	}
	if want := round4(float64(308) / float64(byScore.Program.Total)); byScore.Program.DatacenterShare != want {
		t.Errorf("program data-centre share %v, want %v", byScore.Program.DatacenterShare, want)
	}

	// CSV carries the column, in the same order.
	code, _, body := e.get("/admin/v1/review?sort=datacenter_share&format=csv")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if code != 200 || err != nil || len(rows) != 8 {
		t.Fatalf("CSV: %d %v, %d rows", code, err, len(rows))
	}
	col := slices.Index(rows[0], "datacenter_share")
	if n := slices.Index(rows[0], "datacenter_clicks"); col < 0 || n < 0 || rows[1][1] != "cloudfarm" || rows[1][col] != "0.75" || rows[1][n] != "300" {
		t.Fatalf("CSV header %q, first row %q", rows[0], rows[1])
	}
	// The page shows the column and links both orders; a bad sort is refused.
	code, _, page := e.get("/admin/review?sort=datacenter_share")
	if code != 200 || !strings.Contains(page, `<th class="num">Data centre</th>`) || !strings.Contains(page, `data-share="0.75"`) ||
		strings.Index(page, `data-partner="cloudfarm"`) > strings.Index(page, `data-partner="stuffer"`) ||
		!strings.Contains(page, `sort=score`) || !strings.Contains(page, `class="active" aria-current="page">data-centre share</a>`) {
		t.Fatalf("review page: %d\n%s", code, page)
	}
	if code, _, body := e.get("/admin/v1/review?sort=bogus"); code != 400 || !strings.Contains(body, "sort:") {
		t.Fatalf("sort=bogus: %d %s", code, body)
	}
}

// The drill-down shows the stuffer's sample clicks with their reasons, the quickest
// signups and the shared networks.
func TestReviewDrillDown(t *testing.T) {
	e := newReviewEnv(t)
	var d Detail
	e.getJSON("/admin/v1/review/stuffer?limit=20", &d)
	if d.Partner.PartnerID != "stuffer" || d.Partner.Score < 60 || d.Limit != 20 {
		t.Fatalf("detail partner %+v", d.Partner)
	}
	if len(d.Samples) != 20 {
		t.Fatalf("%d samples, want 20", len(d.Samples))
	}
	for i, c := range d.Samples {
		if c.Verdict == "valid" || len(c.Reasons) == 0 || c.Reasons[0].Text == "" || (i > 0 && c.Time.After(d.Samples[i-1].Time)) {
			t.Fatalf("sample %d: %+v", i, c)
		}
	}
	if codes := reasonCodes(d.Reasons); len(codes) != 4 || codes[0] != "fetch:dest=iframe" {
		// iframe, image, and the beacon's opener and behind; ua:crawler was baseline only.
		t.Fatalf("reasons %v", codes)
	}
	if len(d.FastSignups) != 20 || d.FastSignups[0].Seconds > d.FastSignups[19].Seconds || d.FastSignups[19].Seconds >= 30 {
		t.Fatalf("fast signups %+v", d.FastSignups)
	}
	if len(d.SharedGroups) == 0 || d.SharedGroups[0].Users < 5 || len(d.SharedGroups[0].Some) == 0 {
		t.Fatalf("shared groups %+v", d.SharedGroups)
	}
	// Revoked clicks come with the beacon's verdict and reasons.
	var all Detail
	e.getJSON("/admin/v1/review/stuffer?limit=500", &all)
	wantRevoked := map[string]bool{}
	for _, r := range e.sim.revs {
		wantRevoked[r[0].(string)] = true
	}
	revoked := 0
	for _, c := range all.Samples {
		if c.Revoked != wantRevoked[c.ClickID] {
			t.Fatalf("sample %s revoked %v", c.ClickID, c.Revoked)
		}
		if c.Revoked {
			revoked++
			if c.Verdict != "popunder" || len(c.Reasons) != 2 || c.Reasons[0].Code != "beacon:opener" {
				t.Fatalf("revoked sample %+v", c)
			}
		}
	}
	if revoked == 0 || len(all.Samples) != 500 {
		t.Fatalf("%d revoked of %d samples", revoked, len(all.Samples))
	}

	// A partner without activity reads as zeros, not an error.
	var none Detail
	e.getJSON("/admin/v1/review/nobody", &none)
	if none.Partner.Score != 0 || len(none.Samples) != 0 || none.Partner.Signups.Attributed != 0 {
		t.Fatalf("nobody: %+v", none.Partner)
	}
}

func TestReviewParameters(t *testing.T) {
	e := newReviewEnv(t)
	f := func(path string, code int, msg string) {
		t.Helper()
		got, _, body := e.get(path)
		if got != code || !strings.Contains(body, msg) {
			t.Fatalf("%s: %d %s, want %d with %q", path, got, body, code, msg)
		}
	}
	f("/admin/v1/review?from=2026-01-01&to=2026-12-01", 400, "period longer than 92 days")
	f("/admin/v1/review?from=2026-03-10&to=2026-03-01", 400, "must be after from")
	f("/admin/v1/review?from=yesterday", 400, "from:")
	f("/admin/v1/review?from=2026-03-01&range=7d", 400, "either from or range")
	f("/admin/v1/review?range=7x", 400, "range:")
	f("/admin/v1/review?limit=0", 400, "limit:")
	f("/admin/v1/review?limit=1001", 400, "limit:")
	f("/admin/v1/review/bad%20id", 400, "not a valid partner ID")
	f("/admin/v1/review/stuffer?limit=501", 400, "limit:")
	f("/admin/v1/review?from=2026-03-01%27%20OR%201=1--", 400, "from:")
	f("/admin/review?from=nope", 400, "from:")
	f("/admin/review/%3Cscript%3E", 400, "not a valid partner ID")

	// Requests beyond MaxConcurrent are answered 429 at once.
	e.review.sem <- struct{}{}
	e.review.sem <- struct{}{}
	f("/admin/v1/review", 429, "too many")
	<-e.review.sem
	<-e.review.sem

	// The deadline holds in Go and on the server.
	slow, err := New(Config{Conn: e.conn, DB: e.db, QueryTimeout: time.Nanosecond, Logger: e.review.log})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	slow.handleRanking(rec, httptest.NewRequest(http.MethodGet, "/admin/v1/review", nil))
	if rec.Code != http.StatusGatewayTimeout {
		t.Fatalf("timeout: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.review.Ranking(context.Background(), newReviewPeriod(e.end.Add(-time.Hour), e.end), 10); err != nil {
		t.Fatal(err)
	}
}
