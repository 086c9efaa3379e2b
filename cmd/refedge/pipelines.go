package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/attribution/spool"
	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/config"
)

// eventPipelines are the edge's event queues with their ClickHouse and Kafka sinks.
// serve and bench-ingest both build them here, so the ingestion figures are those of
// the edge's own pipelines, sinks, codecs and settings.
type eventPipelines struct {
	clickWriter *kafka.Writer
	clickCfg    pipeline.Config // what the click pipeline was built with
	clicks      *pipeline.Pipeline[*event.Click]
	revocations *pipeline.Pipeline[*event.Revocation]
	impressions *pipeline.Pipeline[*event.Impression]
	// audit carries the operators' audit trail (admin calls that are not reads) to
	// ClickHouse and refedge.audit, through a writer of its own.
	auditWriter *kafka.Writer
	audit       *pipeline.Pipeline[*admin.AuditEntry]
}

// pipelineOptions let bench-ingest vary what it measures; serve passes the zero value.
type pipelineOptions struct {
	// Sinks, when not nil, selects sinks by name ("clickhouse", "kafka"), to measure one
	// sink alone.
	Sinks func(name string) bool
	// Clicks, when not nil, adjusts the click pipeline's configuration (bench-ingest
	// -sinkqueue; batch and queue sizes come from REFEDGE_EVENT_*).
	Clicks func(*pipeline.Config)
}

// newEventPipelines starts the click, revocation and impression pipelines.
func newEventPipelines(cfg *config.Config, events pipeline.Config, d *deps, log *slog.Logger, opts pipelineOptions) (*eventPipelines, error) {
	keep := opts.Sinks
	clickCfg := eventPipelineConfig(events, "clicks", log)
	if opts.Clicks != nil {
		opts.Clicks(&clickCfg)
	}
	p := &eventPipelines{clickWriter: sink.NewWriter(d.brokers, event.TopicClicks), clickCfg: clickCfg}
	spoolIn := func(name string) spool.Config {
		return spool.Config{Dir: filepath.Join(cfg.SpoolDir, name), MaxBytes: cfg.SpoolMaxBytes}
	}
	var err error
	p.clicks, err = pipeline.NewSpooled(
		clickCfg, spoolIn("clicks"), event.ClickCodec,
		event.ReleaseClick,
		sinks(keep, pipeline.Sink[*event.Click](&sink.ClickHouseClicks{Conn: d.ch, DB: d.chDB}),
			&sink.KafkaClicks{W: p.clickWriter})...,
	)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	p.revocations, err = pipeline.NewSpooled(
		pipeline.Config{Name: "revocations", Logger: log, QueueSize: 4096, BatchSize: 500},
		spoolIn("revocations"), event.RevocationCodec, nil,
		sinks(keep, pipeline.Sink[*event.Revocation](&sink.ClickHouseRevocations{Conn: d.ch, DB: d.chDB}),
			&sink.KafkaRevocations{W: p.clickWriter})...,
	)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	p.impressions, err = pipeline.NewSpooled(
		eventPipelineConfig(events, "impressions", log), spoolIn("impressions"),
		event.ImpressionCodec, event.ReleaseImpression,
		sinks(keep, pipeline.Sink[*event.Impression](&sink.ClickHouseImpressions{Conn: d.ch, DB: d.chDB}))...)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	auditCfg := sink.AuditPipelineConfig()
	auditCfg.Logger = log
	p.auditWriter = sink.NewWriter(d.brokers, event.TopicAudit)
	p.audit, err = pipeline.NewSpooled(auditCfg, spoolIn("audit"), sink.AuditCodec, nil,
		sinks(keep, pipeline.Sink[*admin.AuditEntry](&sink.ClickHouseAudit{Conn: d.ch, DB: d.chDB}),
			&sink.KafkaAudit{W: p.auditWriter})...)
	if err != nil {
		return nil, fmt.Errorf("REFEDGE_SPOOL_DIR: %w", err)
	}
	return p, nil
}

// eventPipelineConfig is events (the REFEDGE_EVENT_* settings) for the pipeline name.
func eventPipelineConfig(events pipeline.Config, name string, log *slog.Logger) pipeline.Config {
	events.Name, events.Logger = name, log
	return events
}

// sinks returns the sinks keep selects (all of them when keep is nil).
func sinks[T any](keep func(string) bool, all ...pipeline.Sink[T]) []pipeline.Sink[T] {
	if keep == nil {
		return all
	}
	var out []pipeline.Sink[T]
	for _, s := range all {
		if keep(s.Name()) {
			out = append(out, s)
		}
	}
	return out
}
