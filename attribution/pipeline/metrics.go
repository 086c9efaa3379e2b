package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	pipelineEnqueued = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_events_enqueued_total", Help: "Events accepted by a pipeline.",
	}, []string{"pipeline"})
	pipelineDepth = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "refedge_events_queue_depth", Help: "Events accepted and not yet written by every sink (sampled at each flush tick).",
	}, []string{"pipeline"})
	pipelineCapacity = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "refedge_events_capacity", Help: "Most events a pipeline holds in memory (PipelineConfig.MemoryBound); refedge_events_queue_depth reaches it when the sinks fall behind.",
	}, []string{"pipeline"})
	pipelineQueueFull = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_events_queue_full_total", Help: "Enqueue calls that had to wait for room.",
	}, []string{"pipeline"})
	sinkWritten = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_sink_events_written_total", Help: "Events written by a sink.",
	}, []string{"pipeline", "sink"})
	sinkErrors = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_sink_errors_total", Help: "Failed sink writes (each is retried).",
	}, []string{"pipeline", "sink"})
	sinkLost = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "refedge_sink_events_lost_total", Help: "Events a sink gave up on at shutdown.",
	}, []string{"pipeline", "sink"})
	sinkFlushSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "refedge_sink_flush_seconds", Help: "Duration of one sink write.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"pipeline", "sink"})
)
