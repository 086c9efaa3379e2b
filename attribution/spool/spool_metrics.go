package spool

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	spoolBytes = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "refedge_spool_bytes", Help: "Bytes waiting in a sink's disk spool.",
	}, []string{"pipeline", "sink"})
	spoolFull = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "refedge_spool_full", Help: "1 when a sink's spool reached its size limit and stopped taking batches.",
	}, []string{"pipeline", "sink"})
	spoolSpooled = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_spool_events_spooled_total", Help: "Events written to a sink's spool.",
	}, []string{"pipeline", "sink"})
	ReplayedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_spool_events_replayed_total", Help: "Spooled events delivered to their sink.",
	}, []string{"pipeline", "sink"})
	spoolQuarantined = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_spool_segments_quarantined_total", Help: "Corrupt spool segments moved to quarantine/.",
	}, []string{"pipeline", "sink"})
)
