package banners

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	requestsVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_banner_requests_total", Help: "Banner image requests by result.",
	}, []string{"result"})
	// Resolved once so the serving path does not look labels up.
	servedOK          = requestsVec.WithLabelValues("ok")
	servedNotModified = requestsVec.WithLabelValues("not_modified")
	servedNotFound    = requestsVec.WithLabelValues("not_found")
	servedError       = requestsVec.WithLabelValues("error")

	renderSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Name: "refedge_banner_render_seconds", Help: "Time to render one banner size from a decoded master.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 12),
	})
	renderErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_banner_render_errors_total", Help: "Masters that could not be opened or rendered.",
	})
	cacheLoaded = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_banner_cache_loaded_total", Help: "Rendered banners loaded from the disk cache instead of rendered.",
	})
	cacheWriteErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_banner_cache_write_errors_total", Help: "Rendered banners that could not be written to the disk cache.",
	})

	impressionsVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_banner_impressions_total", Help: "Banner loads with ref= by outcome: queued, duplicate (same visitor within the window), dropped (hand-off buffer full).",
	}, []string{"result"})
	impQueued    = impressionsVec.WithLabelValues("queued")
	impDuplicate = impressionsVec.WithLabelValues("duplicate")
	impDropped   = impressionsVec.WithLabelValues("dropped")
	impStopped   = impressionsVec.WithLabelValues("stopped")
	dedupEarly   = promauto.NewCounter(prometheus.CounterOpts{
		Name: "refedge_banner_dedup_early_rotations_total", Help: "Dedup generations cut short because the set was full.",
	})

	uploadsVec = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_banner_uploads_total", Help: "Master uploads by result (ok or the refusing HTTP status).",
	}, []string{"result"})
)
