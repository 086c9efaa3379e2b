package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/config"
)

// eventPipelines are the edge's event queues with their ClickHouse and Kafka sinks.
// serve and bench-ingest both build them here, so the ingestion figures are those of
// the edge's own pipelines, sinks, codecs and settings.
type eventPipelines struct {
	clickWriter *kafka.Writer
	clickCfg    attribution.PipelineConfig // what the click pipeline was built with
	clicks      *attribution.Pipeline[*attribution.Click]
	revocations *attribution.Pipeline[*attribution.Revocation]
	impressions *attribution.Pipeline[*attribution.Impression]
	// audit carries the operators' audit trail (admin calls that are not reads) to
	// ClickHouse and refedge.audit, through a writer of its own.
	auditWriter *kafka.Writer
	audit       *attribution.Pipeline[*admin.AuditEntry]
}

// pipelineOptions let bench-ingest vary what it measures; serve passes the zero value.
type pipelineOptions struct {
	// Sinks, when not nil, selects sinks by name ("clickhouse", "kafka"), to measure one
	// sink alone.
	Sinks func(name string) bool
	// Clicks, when not nil, adjusts the click pipeline's configuration (bench-ingest
	// -sinkqueue; batch and queue sizes come from REFEDGE_EVENT_*).
	Clicks func(*attribution.PipelineConfig)
}

// newEventPipelines starts the click, revocation and impression pipelines.
func newEventPipelines(cfg *config.Config, d *deps, log *slog.Logger, opts pipelineOptions) (*eventPipelines, error) {
	keep := opts.Sinks
	clickCfg := eventPipelineConfig(cfg, "clicks", log)
	if opts.Clicks != nil {
		opts.Clicks(&clickCfg)
	}
	p := &eventPipelines{clickWriter: attribution.NewWriter(d.brokers, attribution.TopicClicks), clickCfg: clickCfg}
	spoolIn := func(name string) attribution.SpoolConfig {
		return attribution.SpoolConfig{Dir: filepath.Join(cfg.SpoolDir, name), MaxBytes: cfg.SpoolMaxBytes}
	}
	var err error
	p.clicks, err = attribution.NewSpooledPipeline(
		clickCfg, spoolIn("clicks"), attribution.ClickCodec,
		attribution.ReleaseClick,
		sinks(keep, attribution.Sink[*attribution.Click](&attribution.ClickHouseClicks{Conn: d.ch, DB: d.chDB}),
			&attribution.KafkaClicks{W: p.clickWriter})...,
	)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	p.revocations, err = attribution.NewSpooledPipeline(
		attribution.PipelineConfig{Name: "revocations", Logger: log, QueueSize: 4096, BatchSize: 500},
		spoolIn("revocations"), attribution.RevocationCodec, nil,
		sinks(keep, attribution.Sink[*attribution.Revocation](&attribution.ClickHouseRevocations{Conn: d.ch, DB: d.chDB}),
			&attribution.KafkaRevocations{W: p.clickWriter})...,
	)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	p.impressions, err = attribution.NewSpooledPipeline(
		eventPipelineConfig(cfg, "impressions", log), spoolIn("impressions"),
		attribution.ImpressionCodec, attribution.ReleaseImpression,
		sinks(keep, attribution.Sink[*attribution.Impression](&attribution.ClickHouseImpressions{Conn: d.ch, DB: d.chDB}))...)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	auditCfg := attribution.AuditPipelineConfig()
	auditCfg.Logger = log
	p.auditWriter = attribution.NewWriter(d.brokers, attribution.TopicAudit)
	p.audit, err = attribution.NewSpooledPipeline(auditCfg, spoolIn("audit"), attribution.AuditCodec, nil,
		sinks(keep, attribution.Sink[*admin.AuditEntry](&attribution.ClickHouseAudit{Conn: d.ch, DB: d.chDB}),
			&attribution.KafkaAudit{W: p.auditWriter})...)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	return p, nil
}

// eventPipelineConfig sizes the click and impression pipelines; docs/performance.md, "Event pipeline defaults", says why.
func eventPipelineConfig(cfg *config.Config, name string, log *slog.Logger) attribution.PipelineConfig {
	c := attribution.NewDefaultPipelineConfig()
	c.Name, c.Logger = name, log
	c.BatchSize, c.QueueSize, c.SinkQueue = cfg.EventBatchSize, cfg.EventQueueSize, 1
	c.FlushInterval = cfg.EventFlushInterval
	return c
}

// sinks returns the sinks keep selects (all of them when keep is nil).
func sinks[T any](keep func(string) bool, all ...attribution.Sink[T]) []attribution.Sink[T] {
	if keep == nil {
		return all
	}
	var out []attribution.Sink[T]
	for _, s := range all {
		if keep(s.Name()) {
			out = append(out, s)
		}
	}
	return out
}
