package attribution

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/signing"
)

func TestReasonText(t *testing.T) {
	f := func(code, want string) {
		t.Helper()
		if got := ReasonText(code); !strings.Contains(got, want) {
			t.Errorf("ReasonText(%q) = %q, want it to contain %q", code, got, want)
		}
	}
	// The codes the brief and the tracker use read as sentences.
	f("ua:crawler", "crawler")
	f("net:datacenter", "data centre")
	f("net:asn=16509", "(asn=16509)")
	// The User-Agent rules' reasons each have their own sentence.
	f("ua:monitor", "monitoring")
	f("ua:transcoder", "transcoder")
	f("ua:lowercase", "lower case")
	f("ua:khtml-comment", "crawler named itself")
	f("ua:automation", "test-automation")
	f("ua:payload", "attack payload")
	f("ua:tool-token", "tool added its own name")
	f("fetch:dest=iframe", "frame")
	f("ad:gclid", "Google Ads")
	f("partner:unknown", "registered partner")
	f("partner:unconfirmed", "email address was not confirmed")
	f("degraded:redis", "fewer checks")
	// Unknown details of a known family keep the family's sentence.
	f("fetch:dest=audio", "(dest=audio)")
	f("ad:utm_medium=cpc", "(utm_medium=cpc)")
	f("beacon:new-signal", "visibility check failed (new-signal)")
	// Unknown families read as the raw code (escaped by the caller).
	f("zz:<b>x</b>", "zz:<b>x</b>")
	f("nofamily", "nofamily")
	f("ua:", "ua:")
	for _, v := range Verdicts() {
		if VerdictText(v.String()) == v.String() {
			t.Errorf("verdict %s has no text", v)
		}
	}
}

func TestCSVText(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("sub-1", "sub-1")
	f("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")")
	f("+1", "'+1")
	f("-1+2", "'-1+2")
	f("@SUM(A1)", "'@SUM(A1)")
	f("\tx", "'\tx")
}

func TestFmtMoney(t *testing.T) {
	f := func(v int64, cur, want string) {
		t.Helper()
		if got := fmtMoney(v, cur); got != want {
			t.Errorf("fmtMoney(%d, %s) = %q, want %q", v, cur, got, want)
		}
	}
	f(0, "RUB", "0.00 RUB")
	f(5, "USD", "0.05 USD")
	f(123456, "RUB", "1,234.56 RUB")
	f(-123456, "RUB", "-1,234.56 RUB")
	f(1234, "JPY", "1,234 JPY")
	f(1234, "KWD", "1.234 KWD")
	f(-9223372036854775808, "USD", "-92,233,720,368,547,758.08 USD")
	if got := fmtCount(1234567); got != "1,234,567" {
		t.Errorf("fmtCount = %q", got)
	}
}

// The dashboard template escapes every piece of partner-supplied text and its data block
// stays valid JSON that cannot close the script element.
func TestDashboardTemplateEscapes(t *testing.T) {
	d, err := NewDashboard(DashboardConfig{Analytics: &Analytics{}, Auth: mustTestAuth(t)})
	if err != nil {
		t.Fatal(err)
	}
	hostile := `</script><script>alert(1)</script>`
	st := &Stats{Breakdowns: map[string][]BreakdownRow{
		"reason":   {{Key: hostile, Text: ReasonText(hostile), Clicks: 1}},
		"sub_id":   {{Key: `"><img src=x onerror=alert(1)>`, Clicks: 1}},
		"creative": {{Key: hostile, Clicks: 1}},
	}, Series: []StatsPoint{{T: time.Unix(0, 0), StatsCounts: StatsCounts{Earnings: map[string]int64{hostile: 1}}}}}
	st.Totals.Earnings = map[string]int64{hostile: 1}
	refs := &Referrals{Referrals: []Referral{{UserID: hostile, Status: "pending"}}, Totals: ReferralTotals{ByStatus: map[string]uint64{}}}
	v := &dashView{Nonce: "n0nce", Partner: "p", Script: "/s.js", Style: "/s.css"}
	v.fill(AnalyticsRange{From: time.Unix(0, 0), To: time.Unix(3600, 0), Interval: AnalyticsHour}, func(string) string { return "" }, st, refs)
	var buf bytes.Buffer
	if err := d.page.Execute(&buf, v); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "<script>alert") || strings.Contains(out, "<img src=x") {
		t.Errorf("hostile markup reached the page unescaped")
	}
	if n := strings.Count(out, "</script>"); n != 2 {
		t.Errorf("%d </script> in the page, want the 2 of its own script elements", n)
	}
	if !strings.Contains(out, `nonce="n0nce"`) {
		t.Error("script elements carry no nonce")
	}
}

// The traffic-quality tables explain unconfirmed_partner and its reason in sentences of
// their own, not as an unrecognised code or the partner family's generic text.
func TestDashboardExplainsUnconfirmedPartner(t *testing.T) {
	d, err := NewDashboard(DashboardConfig{Analytics: &Analytics{}, Auth: mustTestAuth(t)})
	if err != nil {
		t.Fatal(err)
	}
	dims := map[string][]BreakdownRow{"reason": {{Key: "partner:unconfirmed", Text: ReasonText("partner:unconfirmed"), Clicks: 3, Flagged: 3}}}
	st := &Stats{Breakdowns: buildBreakdowns(dims, nil, map[string]uint64{"valid": 1, "unconfirmed_partner": 3}, 10)}
	st.Totals.Clicks = 4
	st.Totals.Earnings = map[string]int64{}
	refs := &Referrals{Totals: ReferralTotals{ByStatus: map[string]uint64{}}}
	v := &dashView{Nonce: "n", Partner: "p", Script: "/s.js", Style: "/s.css"}
	v.fill(AnalyticsRange{From: time.Unix(0, 0), To: time.Unix(3600, 0), Interval: AnalyticsHour}, func(string) string { return "" }, st, refs)
	var buf bytes.Buffer
	if err := d.page.Execute(&buf, v); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	table := func(id string) string {
		i := strings.Index(out, `<table id="`+id+`">`)
		if i < 0 {
			t.Fatalf("no table %s", id)
		}
		j := strings.Index(out[i:], "</table>")
		return out[i : i+j]
	}
	// html/template escapes the apostrophe.
	sentence := "email address was not confirmed at the time of the click; clicks after the confirmation count."
	for id, key := range map[string]string{"table-verdict": "unconfirmed_partner", "table-reason": "partner:unconfirmed"} {
		tab := table(id)
		if !strings.Contains(tab, `data-key="`+key+`"`) || !strings.Contains(tab, sentence) {
			t.Errorf("%s does not explain %s:\n%s", id, key, tab)
		}
		if strings.Contains(tab, "Unrecognised reason") || strings.Contains(tab, "could not be used") {
			t.Errorf("%s explains %s generically:\n%s", id, key, tab)
		}
	}
}

// mustTestAuth returns an Auth whose Redis is never contacted by these tests.
func mustTestAuth(t *testing.T) *partnerapi.Auth {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { rdb.Close() })
	a, err := partnerapi.NewAuth(partnerapi.Config{Keys: signing.MustKeyring(anTestSecret), Redis: rdb, PublicURL: "https://refedge.example"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSecurityHeaders(t *testing.T) {
	var ctx fasthttp.RequestCtx
	securityHeaders(&ctx, "abc")
	csp := string(ctx.Response.Header.Peek("Content-Security-Policy"))
	for _, want := range []string{"default-src 'none'", "script-src 'nonce-abc'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline or eval", csp)
	}
}
