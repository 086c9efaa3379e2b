package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/admin/admintest"
)

// `refedge demo` against a running serve leaves the demo partner's dashboard with
// figures in every part: clicks of several verdicts over the weeks, impressions,
// signups, activations and earnings (the ledger's answer to the broker's facts).
func TestDemoFillsTheDashboard(t *testing.T) {
	st := startStack(t)
	st.putPartner("demo", "active")
	env := map[string]string{}
	for _, kv := range launchEnv(t, st.cfg) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "-days", "14", "-clicks", "25"}, func(k string) string { return env[k] }, &out, &errb); code != 0 {
		t.Fatalf("refedge demo exited %d:\n%s%s", code, out.String(), errb.String())
	}
	t.Log(strings.TrimSpace(out.String()))

	req, _ := http.NewRequest(http.MethodPost, st.admin+"/admin/v1/partners/demo/tokens", nil)
	resp, err := http.DefaultClient.Do(admintest.AsAdmin(req))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.Token == "" {
		t.Fatalf("token: %v %+v", err, tok)
	}
	var stats struct {
		Totals struct {
			Clicks, Valid, Flagged, Impressions, Signups, Activations uint64
			Earnings                                                  map[string]int64
			ByVerdict                                                 map[string]uint64 `json:"by_verdict"`
		}
		Series []struct {
			T time.Time
		}
	}
	waitEvery(t, "the demo partner's figures", 2*time.Minute, 500*time.Millisecond, func() bool {
		req, _ := http.NewRequest(http.MethodGet, st.http+"/api/v1/stats?range=30d&interval=day", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&stats) != nil {
			return false
		}
		tt := stats.Totals
		return tt.Valid > 0 && tt.Flagged > 0 && tt.Impressions > 0 && tt.Signups > 0 && tt.Activations > 0 && tt.Earnings["RUB"] > 0
	})
	if len(stats.Totals.ByVerdict) < 3 {
		t.Errorf("verdicts %v: want the traffic of several", stats.Totals.ByVerdict)
	}
	days := map[string]bool{}
	for _, p := range stats.Series {
		days[p.T.Format(time.DateOnly)] = true
	}
	if len(days) < 10 {
		t.Errorf("clicks on %d days: want a few weeks of traffic", len(days))
	}
}
