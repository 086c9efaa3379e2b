package analytics

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/i18n"
)

var ParamsNow = time.Date(2026, 11, 21, 14, 37, 0, 0, time.UTC)

func TestParseAnalyticsRange(t *testing.T) {
	cfg := NewDefaultConfig()
	f := func(query, want string) {
		t.Helper()
		q, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRange(q.Get, ParamsNow, &cfg)
		got := ""
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("%q: error %v is not a parameter error", query, err)
			}
			got = "error " + pe.param
		} else {
			got = r.From.Format(time.RFC3339) + " " + r.To.Format(time.RFC3339) + " " + r.Interval.String()
		}
		if got != want {
			t.Errorf("%q: got %s, want %s", query, got, want)
		}
	}
	// Defaults: 30 days by day ending with today; 48 hours by hour ending with this hour.
	f("", "2026-10-23T00:00:00Z 2026-11-22T00:00:00Z day")
	f("interval=hour", "2026-11-19T15:00:00Z 2026-11-21T15:00:00Z hour")
	f("range=24h", "2026-11-20T15:00:00Z 2026-11-21T15:00:00Z hour")
	f("range=7d", "2026-11-15T00:00:00Z 2026-11-22T00:00:00Z day")
	f("range=365d", "2025-11-22T00:00:00Z 2026-11-22T00:00:00Z month")
	f("range=365d&interval=day", "2025-11-22T00:00:00Z 2026-11-22T00:00:00Z day")
	// Explicit times, aligned outwards to whole hours.
	f("from=2025-03-01&to=2025-04-01", "2025-03-01T00:00:00Z 2025-04-01T00:00:00Z day")
	f("from=2025-03-01T10:30:00Z&to=2025-03-01T12:10:00Z", "2025-03-01T10:00:00Z 2025-03-01T13:00:00Z hour")
	f("from=2025-03-01T10:00:00%2B03:00&to=2025-03-02", "2025-03-01T07:00:00Z 2025-03-02T00:00:00Z hour")
	f("from=2025-01-01&to=2025-12-31&interval=month", "2025-01-01T00:00:00Z 2025-12-31T00:00:00Z month")
	f("from=2025-01-01&to=2025-12-31", "2025-01-01T00:00:00Z 2025-12-31T00:00:00Z month")
	f("to=2025-03-01&range=2d", "2025-02-27T00:00:00Z 2025-03-01T00:00:00Z hour")
	// Rejections name the parameter.
	f("interval=week", "error interval")
	f("interval=HOUR", "error interval")
	f("from=yesterday", "error from")
	f("to=2025-13-01", "error to")
	f("from=2025-03-02&to=2025-03-01", "error to")
	f("from=2025-03-01&to=2025-03-01", "error to")
	f("from=2024-01-01&to=2025-03-01", "error to")
	f("from=2025-01-01&to=2025-03-01&interval=hour", "error interval")
	f("from=1999-12-31&to=2000-01-02", "error from")
	f("from=2099-12-31&to=2100-01-02", "error from")
	f("range=30", "error range")
	f("range=0d", "error range")
	f("range=-5d", "error range")
	f("range=+5d", "error range")
	f("range=5w", "error range")
	f("range=1000d", "error to")
	f("range=99999d", "error from")
	f("range=7d&from=2025-01-01", "error range")
	f("from="+strings.Repeat("9", 100), "error from")
}

func TestParseIntParam(t *testing.T) {
	f := func(v string, want int, wantErr bool) {
		t.Helper()
		got, err := ParseIntParam(url.Values{"n": {v}}.Get, "n", 7, 1, 100)
		if (err != nil) != wantErr || (!wantErr && got != want) {
			t.Errorf("%q: got %d, %v", v, got, err)
		}
	}
	f("", 7, false)
	f("1", 1, false)
	f("100", 100, false)
	f("0", 0, true)
	f("101", 0, true)
	f("-1", 0, true)
	f("1e3", 0, true)
	f("00000000007", 0, true)
}

func TestAnalyticsIntervalBuckets(t *testing.T) {
	f := func(from, to string, iv Interval, want string) {
		t.Helper()
		r := Range{From: mustTime(t, from), To: mustTime(t, to), Interval: iv}
		var got []string
		for _, b := range r.Buckets() {
			got = append(got, b.Format("01-02T15"))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s..%s %s: %v, want %s", from, to, iv, got, want)
		}
	}
	f("2025-02-27T22:00:00Z", "2025-02-28T01:00:00Z", AnalyticsHour, "02-27T22 02-27T23 02-28T00")
	f("2025-02-27T22:00:00Z", "2025-03-02T01:00:00Z", AnalyticsDay, "02-27T00 02-28T00 03-01T00 03-02T00")
	f("2025-01-15T00:00:00Z", "2025-03-01T00:00:00Z", AnalyticsMonth, "01-01T00 02-01T00")
	f("2025-01-15T00:00:00Z", "2025-03-01T01:00:00Z", AnalyticsMonth, "01-01T00 02-01T00 03-01T00")
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAnalyticsConfigLoadEnv(t *testing.T) {
	f := func(env map[string]string, wantErr string) {
		t.Helper()
		var c Config
		err := c.LoadEnv(func(k string) string { return env[k] })
		got := ""
		if err != nil {
			got = err.Error()
		}
		if (wantErr == "") != (got == "") || !strings.Contains(got, wantErr) {
			t.Errorf("%v: error %q, want one mentioning %q", env, got, wantErr)
		}
	}
	f(nil, "")
	f(map[string]string{"REFEDGE_ANALYTICS_TIMEOUT": "2s", "REFEDGE_ANALYTICS_MAX_RANGE_DAYS": "90", "REFEDGE_ANALYTICS_MAX_CONCURRENT": "4", "REFEDGE_ANALYTICS_SEALER": "0"}, "")
	f(map[string]string{"REFEDGE_ANALYTICS_TIMEOUT": "soon"}, "REFEDGE_ANALYTICS_TIMEOUT")
	f(map[string]string{"REFEDGE_ANALYTICS_MAX_RANGE_DAYS": "0"}, "REFEDGE_ANALYTICS_MAX_RANGE_DAYS")
	f(map[string]string{"REFEDGE_ANALYTICS_MAX_CONCURRENT": "many"}, "REFEDGE_ANALYTICS_MAX_CONCURRENT")
	f(map[string]string{"REFEDGE_ANALYTICS_SEALER": "maybe"}, "REFEDGE_ANALYTICS_SEALER")
	// Every problem is reported at once.
	f(map[string]string{"REFEDGE_ANALYTICS_TIMEOUT": "x", "REFEDGE_ANALYTICS_SEALER": "y"}, "REFEDGE_ANALYTICS_SEALER")

	var c Config
	_ = c.LoadEnv(func(k string) string {
		return map[string]string{"REFEDGE_ANALYTICS_MAX_RANGE_DAYS": "7", "REFEDGE_ANALYTICS_SEALER": "0"}[k]
	})
	c.defaults()
	if c.MaxRange != 7*24*time.Hour || c.MaxHourlyRange != 7*24*time.Hour || !c.Sealer.Disabled {
		t.Errorf("loaded %+v", c)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Conn") {
		t.Errorf("Validate without Conn: %v", err)
	}
}

// FuzzParseAnalyticsRange: whatever the query, parsing never panics, and an accepted
// range is hour-aligned, non-empty, within the limits, with a bounded bucket count.
func FuzzParseAnalyticsRange(f *testing.F) {
	for _, s := range [][4]string{
		{"", "", "", ""}, {"2025-03-01", "2025-04-01", "day", ""}, {"", "", "hour", "48h"},
		{"2025-03-01T10:30:00Z", "2025-03-01T12:10:00+03:00", "", ""}, {"", "2025-03-01", "month", "365d"},
		{"0000-01-01", "9999-12-31", "hour", ""}, {"", "", "", "99999h"}, {"2025-02-29", "", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	cfg := NewDefaultConfig()
	f.Fuzz(func(t *testing.T, from, to, interval, rng string) {
		q := url.Values{"from": {from}, "to": {to}, "interval": {interval}, "range": {rng}}
		r, err := ParseRange(q.Get, ParamsNow, &cfg)
		if err != nil {
			var pe *ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("non-parameter error %v", err)
			}
			return
		}
		if !r.From.Before(r.To) || r.From.Truncate(time.Hour) != r.From || r.To.Truncate(time.Hour) != r.To {
			t.Fatalf("bad range %v..%v", r.From, r.To)
		}
		if r.To.Sub(r.From) > cfg.MaxRange || r.Interval == AnalyticsHour && r.To.Sub(r.From) > cfg.MaxHourlyRange {
			t.Fatalf("range %v..%v by %s exceeds limits", r.From, r.To, r.Interval)
		}
		if n := len(r.Buckets()); n == 0 || n > 31*24+1 {
			t.Fatalf("%d buckets", n)
		}
	})
}

// The period's errors read in the page's language: in Russian they are Russian words
// (the parameter's name aside), in English the API's own text.
func TestRangeErrorsInTheReadersLanguage(t *testing.T) {
	cfg := NewDefaultConfig()
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	cyrillic := regexp.MustCompile(`\p{Cyrillic}`)
	for _, q := range []map[string]string{
		{"interval": "week"},
		{"from": "2026-11-01", "range": "7d"},
		{"from": "2026-11-10", "to": "2026-11-01"},
		{"from": "1990-01-01"},
		{"from": "2020-01-01", "to": "2026-01-01"},
		{"from": "2026-01-01", "to": "2026-03-01", "interval": "hour"},
		{"range": "7w"},
		{"from": strings.Repeat("2", 41)},
		{"from": "2026-13-01"},
		{"to": "1800-01-01T00:00:00Z"},
	} {
		_, err := ParseRange(func(k string) string { return q[k] }, now, &cfg)
		if err == nil {
			t.Errorf("%v: accepted", q)
			continue
		}
		en, ru := LocalizeErr(err, i18n.For("en")), LocalizeErr(err, i18n.For("ru"))
		param, _, _ := strings.Cut(err.Error(), ":")
		if en != err.Error() {
			t.Errorf("%v: English %q, want the API's %q", q, en, err.Error())
		}
		if !cyrillic.MatchString(ru) || !strings.HasPrefix(ru, param+": ") || strings.Contains(ru, "{") {
			t.Errorf("%v: Russian %q", q, ru)
		}
	}
	if got := LocalizeErr(errors.New("plain"), i18n.For("ru")); got != "plain" {
		t.Errorf("an error of another kind reads %q", got)
	}
}
