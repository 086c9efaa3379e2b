package widget

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	framesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_widget_frames_total", Help: "Widget frames served, by outcome.",
	}, []string{"outcome"})
	viewsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_widget_views_total", Help: "Widget view beacons, by outcome.",
	}, []string{"outcome"})
	thumbsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_widget_thumbs_total", Help: "Widget thumbnails served, by outcome.",
	}, []string{"outcome"})
	catalogEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_widget_catalog_events_total", Help: "marketplace.kworks events handled by the widget catalog consumer, by outcome.",
	}, []string{"outcome"})
)

// Frame outcomes.
var (
	frameOK       = framesTotal.WithLabelValues("ok")
	frameEmpty    = framesTotal.WithLabelValues("empty")
	frameNotFound = framesTotal.WithLabelValues("not_found")
	frameError    = framesTotal.WithLabelValues("error")
)

// View outcomes.
var (
	viewRecorded  = viewsTotal.WithLabelValues("recorded")
	viewDuplicate = viewsTotal.WithLabelValues("duplicate")
	viewInvalid   = viewsTotal.WithLabelValues("invalid")
	viewError     = viewsTotal.WithLabelValues("error")
)
