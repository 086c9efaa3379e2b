package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/deploy/bench/ingest"
	"github.com/refedge/refedge/internal/config"
)

// benchIngest measures the edge's click pipeline, built exactly as serve builds it,
// from its queue into ClickHouse and Kafka (deploy/bench/ingest, docs/performance.md).
func benchIngest(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench-ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 60*time.Second, "how long to enqueue clicks")
	producers := fs.Int("producers", 8, "goroutines enqueueing clicks, like the edge's handlers")
	sinkSel := fs.String("sinks", "all", "sinks of the click pipeline: all (as serve builds it), clickhouse or kafka")
	noViews := fs.Bool("no-views", false, "experiment: drop the materialized views fed by clicks in the harness's database before the load,\nto measure ClickHouse's ceiling for the raw table alone (the analytics aggregates are then not fed)")
	sample := fs.Duration("sample", 10*time.Second, "how often ClickHouse rows and broker offsets are counted during the load")
	watch := fs.String("watch", "", "other processes to report CPU and RSS for, as name=pid,name=pid (e.g. clickhouse=123)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load to this file")
	sinkQueue := fs.Int("sinkqueue", 0, "experiment: the click pipeline's SinkQueue (0: the edge's own)")
	mark := fs.Int64("mark", 1_000_000, "the enqueued event at which RSS and Go heap are read")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file at the -mark event")
	fs.Usage = func() {
		fmt.Fprint(stderr, `refedge bench-ingest: enqueue realistic clicks into the edge's click pipeline (the
pipeline, sinks, codecs and settings serve uses) as fast as it takes them, and report
events/s counted in ClickHouse and by the broker's offsets, RSS at the 1,000,000th
enqueued event, peak RSS and Go heap. Reads the same REFEDGE_* variables as serve;
point REFEDGE_CLICKHOUSE_DSN at a database of its own (rows are counted there) and
REFEDGE_KAFKA_BROKERS at a broker outside this process (an embedded broker's memory
would count as the edge's).

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	opts := pipelineOptions{Clicks: func(c *pipeline.Config) {
		c.SinkQueue = cmp.Or(*sinkQueue, c.SinkQueue)
	}}
	switch *sinkSel {
	case "all":
	case "clickhouse", "kafka":
		opts.Sinks = func(name string) bool { return name == *sinkSel }
	default:
		fmt.Fprintf(stderr, "refedge bench-ingest: -sinks must be all, clickhouse or kafka, got %q\n", *sinkSel)
		return 2
	}
	var procs []ingest.Process
	if *watch != "" {
		for _, kv := range strings.Split(*watch, ",") {
			name, pid, ok := strings.Cut(kv, "=")
			if !ok || name == "" || pid == "" {
				fmt.Fprintf(stderr, "refedge bench-ingest: -watch wants name=pid, got %q\n", kv)
				return 2
			}
			procs = append(procs, ingest.Process{Name: name, PID: pid})
		}
	}
	cfg, err := config.Load(getenv)
	events := pipeline.NewDefaultConfig()
	if err = errors.Join(err, events.LoadEnv(getenv)); err != nil {
		fmt.Fprintf(stderr, "refedge: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	label := *sinkSel
	if *noViews {
		label += "-noviews"
	}
	if err := runBenchIngest(ctx, cfg, events, log, stdout, label, *noViews, opts, ingest.Config{
		Duration: *duration, Producers: *producers, Sample: *sample, Mark: *mark, Watch: procs, Out: stdout,
	}, *cpuProfile, *memProfile); err != nil {
		log.Error("bench-ingest failed", "err", err)
		return 1
	}
	return 0
}

func runBenchIngest(ctx context.Context, cfg *config.Config, eventsCfg pipeline.Config, log *slog.Logger, out io.Writer, label string, noViews bool,
	opts pipelineOptions, icfg ingest.Config, cpuProfile, memProfile string) error {
	d, err := openDeps(ctx, cfg, log)
	defer d.close(log)
	if err != nil {
		return err
	}
	if noViews {
		if err := dropClickViews(ctx, d, out); err != nil {
			return err
		}
	}
	if d.broker != nil {
		log.Warn("the Kafka broker runs inside this process: its memory counts in the RSS figures")
	}
	events, err := newEventPipelines(cfg, eventsCfg, d, log, opts)
	if err != nil {
		return err
	}
	defer events.clickWriter.Close()
	defer events.auditWriter.Close()
	defer events.stopAll(log)
	pc := events.clickCfg
	fmt.Fprintf(out, "click pipeline: BatchSize %d, QueueSize %d, SinkQueue %d (0: the pipeline's default); Kafka writer: BatchSize %d, BatchBytes %d, %s\n",
		pc.BatchSize, pc.QueueSize, pc.SinkQueue, events.clickWriter.BatchSize, events.clickWriter.BatchBytes, events.clickWriter.Compression)
	keep := func(sink string) bool { return opts.Sinks == nil || opts.Sinks(sink) }
	if keep("clickhouse") {
		icfg.Counters = append(icfg.Counters, ingest.Counter{Name: "clickhouse", Count: func(ctx context.Context) (int64, error) {
			var n uint64
			err := d.ch.QueryRow(ctx, "SELECT count() FROM "+d.chDB+".clicks").Scan(&n)
			return int64(n), err
		}})
	}
	if keep("kafka") {
		icfg.Counters = append(icfg.Counters, ingest.Counter{Name: "broker", Count: func(ctx context.Context) (int64, error) {
			return topicMessages(ctx, d.brokers, event.TopicClicks)
		}})
	}
	icfg.Enqueue, icfg.Pending, icfg.Stop = events.clicks.Enqueue, events.clicks.Len, events.clicks.Stop
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if memProfile != "" {
		icfg.AtMark = func() {
			f, err := os.Create(memProfile)
			if err == nil {
				err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
			}
			if err != nil {
				log.Error("cannot write the heap profile", "err", err)
			}
		}
	}
	res, err := ingest.Run(ctx, icfg)
	if err != nil {
		return err
	}
	res.Report(out, label)
	reportSinkWrites(out)
	return nil
}

// dropClickViews drops the materialized views ClickHouse feeds from inserts into clicks
// (bench-ingest -no-views).
func dropClickViews(ctx context.Context, d *deps, out io.Writer) error {
	var views []string
	if err := d.ch.QueryRow(ctx, "SELECT dependencies_table FROM system.tables WHERE database = ? AND name = 'clicks'", d.chDB).Scan(&views); err != nil {
		return fmt.Errorf("cannot list the views of %s.clicks: %w", d.chDB, err)
	}
	for _, v := range views {
		if err := d.ch.Exec(ctx, "DROP TABLE "+d.chDB+"."+v); err != nil {
			return fmt.Errorf("cannot drop view %s: %w", v, err)
		}
	}
	fmt.Fprintf(out, "dropped %d views fed by %s.clicks: %s\n", len(views), d.chDB, strings.Join(views, ", "))
	return nil
}

// reportSinkWrites prints how many writes each click sink made and how long they took
// (refedge_sink_flush_seconds), which tells a slow destination from a slow edge.
func reportSinkWrites(out io.Writer) {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return
	}
	for _, mf := range mfs {
		if mf.GetName() != "refedge_sink_flush_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var pipeline, sink string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "pipeline":
					pipeline = l.GetValue()
				case "sink":
					sink = l.GetValue()
				}
			}
			h := m.GetHistogram()
			if pipeline != "clicks" || h.GetSampleCount() == 0 {
				continue
			}
			fmt.Fprintf(out, "sink %-13s %d writes, %.1f ms each on average\n", sink, h.GetSampleCount(),
				1000*h.GetSampleSum()/float64(h.GetSampleCount()))
		}
	}
}

// stopAll flushes the pipelines bench-ingest did not load (they are idle).
func (p *eventPipelines) stopAll(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, stop := range map[string]func(context.Context) error{
		"clicks": p.clicks.Stop, "revocations": p.revocations.Stop, "impressions": p.impressions.Stop, "audit": p.audit.Stop,
	} {
		if err := stop(ctx); err != nil {
			log.Error("cannot stop pipeline", "pipeline", name, "err", err)
		}
	}
}

// topicMessages returns how many messages topic holds: the sum over its partitions of
// the last offset minus the first.
func topicMessages(ctx context.Context, brokers []string, topic string) (int64, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	var reqs []kafka.OffsetRequest
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, t.Error
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return 0, p.Error
		}
		n += p.LastOffset - p.FirstOffset
	}
	return n, nil
}
