package analytics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	RequestSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refedge_analytics_request_seconds", Help: "Duration of one partner analytics request, by endpoint.",
		Buckets: prometheus.ExponentialBuckets(0.002, 2, 13),
	}, []string{"endpoint"})
	analyticsErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_analytics_errors_total", Help: "Partner analytics requests that failed, by endpoint and kind (timeout, query).",
	}, []string{"endpoint", "kind"})
	analyticsRejected = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_analytics_rejected_total", Help: "Analytics requests answered 429 because MaxConcurrent were running.",
	})
	analyticsRawHours = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_analytics_raw_hours_total", Help: "Partner-hours read from raw rows because no seal vouched for the aggregate, by aggregate.",
	}, []string{"aggregate"})
	sealerSealed = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_analytics_sealed_hours_total", Help: "Partner-hours (fact clicks, impressions, conversions) and partner-days (clicks_day, impressions_day) the sealer sealed, by fact.",
	}, []string{"fact"})
	sealerDirty = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_analytics_dirty_hours_total", Help: "Sealed partner-hours whose aggregate holds duplicated rows (read from raw rows), by fact.",
	}, []string{"fact"})
	sealerAbandoned = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_analytics_abandoned_builds_total", Help: "Partner-hours or -days whose build did not match the count measured before it (built again next pass), by seal fact.",
	}, []string{"fact"})
	sealerBuildSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refedge_analytics_build_seconds", Help: "Duration of one sealer build of a batch of partners, by tier (hour, day).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	}, []string{"tier"})
	sealerErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_analytics_sealer_errors_total", Help: "Sealer passes that failed (retried next pass).",
	})
)
