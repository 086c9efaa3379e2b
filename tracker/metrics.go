package tracker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/refedge/refedge/attribution/event"
)

var (
	clicksVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_clicks_total", Help: "Referral clicks by verdict.",
	}, []string{"verdict"})
	// clicksTotal holds the per-verdict counters resolved once, so the click path does
	// not look labels up.
	clicksTotal = func() (out [16]prometheus.Counter) {
		for _, v := range event.Verdicts() {
			out[v] = clicksVec.WithLabelValues(v.String())
		}
		return out
	}()
	stateErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_click_state_errors_total", Help: "Clicks whose Redis state lookup failed (classified degraded).",
	})
	enqueueErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_click_enqueue_errors_total", Help: "Clicks answered after the event queue stopped.",
	})
)

var beaconReports = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "refedge_beacon_reports_total", Help: "Verification beacon reports by outcome (confirmed, revoked, bad_token, malformed).",
}, []string{"outcome"})
