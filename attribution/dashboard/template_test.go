package dashboard

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/refedge/refedge/attribution/analytics"
	"github.com/refedge/refedge/internal/i18n"
	"github.com/refedge/refedge/internal/partnerapi"
	"github.com/refedge/refedge/internal/partnerui"
	"github.com/refedge/refedge/internal/signing"
	"github.com/valyala/fasthttp"
)

// The dashboard template escapes every piece of partner-supplied text and its data block
// stays valid JSON that cannot close the script element.
func TestDashboardTemplateEscapes(t *testing.T) {
	d, err := New(Config{Analytics: &analytics.Analytics{}, Auth: mustTestAuth(t)})
	if err != nil {
		t.Fatal(err)
	}
	hostile := `</script><script>alert(1)</script>`
	st := &analytics.Stats{Breakdowns: map[string][]analytics.BreakdownRow{
		"reason":   {{Key: hostile, Text: analytics.ReasonText(hostile), Clicks: 1}},
		"sub_id":   {{Key: `"><img src=x onerror=alert(1)>`, Clicks: 1}},
		"creative": {{Key: hostile, Clicks: 1}},
	}, Series: []analytics.StatsPoint{{T: time.Unix(0, 0), StatsCounts: analytics.StatsCounts{Earnings: map[string]int64{hostile: 1}}}}}
	st.Totals.Earnings = map[string]int64{hostile: 1}
	refs := &analytics.Referrals{Referrals: []analytics.Referral{{UserID: hostile, Status: "pending"}}, Totals: analytics.ReferralTotals{ByStatus: map[string]uint64{}}}
	v := &dashView{UI: partnerui.UI{Catalogue: i18n.For("en"), Nonce: "n0nce", Partner: "p"}, Script: "/s.js", Style: "/s.css"}
	v.fill(analytics.Range{From: time.Unix(0, 0), To: time.Unix(3600, 0), Interval: analytics.AnalyticsHour}, func(string) string { return "" }, st, refs)
	var buf bytes.Buffer
	if err := d.page.Execute(&buf, v); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "<script>alert") || strings.Contains(out, "<img src=x") {
		t.Errorf("hostile markup reached the page unescaped")
	}
	if n := strings.Count(out, "</script>"); n != 4 {
		t.Errorf("%d </script> in the page, want the 4 of its own script elements", n)
	}
	if !strings.Contains(out, `nonce="n0nce"`) {
		t.Error("script elements carry no nonce")
	}
}

// The traffic-quality tables explain unconfirmed_partner and its reason in sentences of
// their own, not as an unrecognised code or the partner family's generic text.
func TestDashboardExplainsUnconfirmedPartner(t *testing.T) {
	d, err := New(Config{Analytics: &analytics.Analytics{}, Auth: mustTestAuth(t)})
	if err != nil {
		t.Fatal(err)
	}
	dims := map[string][]analytics.BreakdownRow{"reason": {{Key: "partner:unconfirmed", Text: analytics.ReasonText("partner:unconfirmed"), Clicks: 3, Flagged: 3}}}
	st := &analytics.Stats{Breakdowns: analytics.BuildBreakdowns(dims, nil, map[string]uint64{"valid": 1, "unconfirmed_partner": 3}, 10)}
	st.Totals.Clicks = 4
	st.Totals.Earnings = map[string]int64{}
	refs := &analytics.Referrals{Totals: analytics.ReferralTotals{ByStatus: map[string]uint64{}}}
	v := &dashView{UI: partnerui.UI{Catalogue: i18n.For("en"), Nonce: "n", Partner: "p"}, Script: "/s.js", Style: "/s.css"}
	v.fill(analytics.Range{From: time.Unix(0, 0), To: time.Unix(3600, 0), Interval: analytics.AnalyticsHour}, func(string) string { return "" }, st, refs)
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

// The traffic-quality tables explain the datacenter verdict and the net:* reasons in ru
// and en: the verdict and net:datacenter in sentences of their own, net:asn=<n> by the
// network family's sentence with the AS number.
func TestDashboardExplainsDatacenter(t *testing.T) {
	d, err := New(Config{Analytics: &analytics.Analytics{}, Auth: mustTestAuth(t)})
	if err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string][3]string{
		"en": {"Came from a data centre", "The click came from a data centre", "The network the click came from (asn=16509)"},
		"ru": {"Переход из сети дата-центра", "Клик пришёл из сети дата-центра", "Сеть, из которой пришёл клик (asn=16509)"},
	} {
		dims := map[string][]analytics.BreakdownRow{"reason": {
			{Key: "net:datacenter", Clicks: 3, Flagged: 3}, {Key: "net:asn=16509", Clicks: 3, Flagged: 3}}}
		st := &analytics.Stats{Breakdowns: analytics.BuildBreakdowns(dims, nil, map[string]uint64{"valid": 1, "datacenter": 3}, 10)}
		st.Totals.Clicks = 4
		st.Totals.Earnings = map[string]int64{}
		refs := &analytics.Referrals{Totals: analytics.ReferralTotals{ByStatus: map[string]uint64{}}}
		v := &dashView{UI: partnerui.UI{Catalogue: i18n.For(lang), Nonce: "n", Partner: "p"}, Script: "/s.js", Style: "/s.css"}
		v.fill(analytics.Range{From: time.Unix(0, 0), To: time.Unix(3600, 0), Interval: analytics.AnalyticsHour}, func(string) string { return "" }, st, refs)
		var buf bytes.Buffer
		if err := d.page.Execute(&buf, v); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		row := func(id, key string) string {
			i := strings.Index(out, `<table id="`+id+`">`)
			if i < 0 {
				t.Fatalf("%s: no table %s", lang, id)
			}
			tab := out[i : i+strings.Index(out[i:], "</table>")]
			j := strings.Index(tab, `data-key="`+key+`"`)
			if j < 0 {
				t.Fatalf("%s: %s has no row %s:\n%s", lang, id, key, tab)
			}
			return tab[j : j+strings.Index(tab[j:], "</tr>")]
		}
		for i, r := range []string{row("table-verdict", "datacenter"), row("table-reason", "net:datacenter"), row("table-reason", "net:asn=16509")} {
			if !strings.Contains(r, want[i]) {
				t.Errorf("%s: row %s, want %q", lang, r, want[i])
			}
		}
	}
}

// mustTestAuth returns an Auth whose Redis is never contacted by these tests.
func mustTestAuth(t *testing.T) *partnerapi.Auth {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { rdb.Close() })
	a, err := partnerapi.NewAuth(partnerapi.Config{Keys: signing.MustKeyring("dashboard-test-secret-0123456789"), Redis: rdb, PublicURL: "https://refedge.example"})
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
