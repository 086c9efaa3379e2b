package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/refedge/refedge/attribution/sink"
	chschema "github.com/refedge/refedge/deploy/clickhouse"
	chcluster "github.com/refedge/refedge/deploy/clickhouse/cluster"
	kafkatopics "github.com/refedge/refedge/deploy/kafka"
	"github.com/refedge/refedge/internal/config"
)

// migrateFlags are the options of `refedge migrate`.
type migrateFlags struct {
	cluster    string
	replicated bool
	print      bool
}

func parseMigrateFlags(args []string, stderr io.Writer) (migrateFlags, error) {
	var f migrateFlags
	fs := flag.NewFlagSet("refedge migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.cluster, "cluster", "", "apply the schema to every server of this ClickHouse cluster (remote_servers):\n"+
		"<table>_local tables plus Distributed tables sharded by partner (deploy/clickhouse/cluster)")
	fs.BoolVar(&f.replicated, "replicated", false, "with --cluster: Replicated*MergeTree local tables (needs ZooKeeper or Keeper\n"+
		"and the {shard} and {replica} macros on every server)")
	fs.BoolVar(&f.print, "print", false, "with --cluster: print the ON CLUSTER DDL instead of applying it")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	var err error
	if fs.NArg() > 0 {
		err = fmt.Errorf("refedge migrate: unexpected argument %q", fs.Arg(0))
	} else if (f.replicated || f.print) && f.cluster == "" {
		err = errors.New("refedge migrate: --replicated and --print need --cluster")
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
	}
	return f, err
}

// migrateCmd runs `refedge migrate`: the single-server schema, or with --cluster its
// cluster form on every server of the cluster.
func migrateCmd(ctx context.Context, cfg *config.Config, log *slog.Logger, f migrateFlags) error {
	if f.cluster == "" {
		return migrate(ctx, cfg, log)
	}
	return sink.MigrateCluster(ctx, cfg.ClickHouseDSN, chcluster.Options{Cluster: f.cluster, Replicated: f.replicated}, log)
}

// printClusterDDL writes the cluster form of every migration, for review or for applying
// by hand with clickhouse-client (--multiquery). It reads only REFEDGE_CLICKHOUSE_DSN,
// for the database name (default refedge).
func printClusterDDL(f migrateFlags, getenv func(string) string, stdout, stderr io.Writer) int {
	db := "refedge"
	if dsn := getenv("REFEDGE_CLICKHOUSE_DSN"); dsn != "" {
		if o, err := clickhouse.ParseDSN(dsn); err == nil && o.Auth.Database != "" {
			db = o.Auth.Database
		}
	}
	migs, err := chschema.Migrations(db)
	if err == nil {
		var out []chcluster.Migration
		if out, err = chcluster.Render(migs, db, chcluster.Options{Cluster: f.cluster, Replicated: f.replicated}); err == nil {
			fmt.Fprintf(stdout, "-- refedge schema for database %s on ClickHouse cluster %s (replicated: %v).\n", db, f.cluster, f.replicated)
			fmt.Fprintf(stdout, "-- Run the DDL once per cluster; a statement marked per-shard runs on one replica of every\n")
			fmt.Fprintf(stdout, "-- shard, one marked once on one server. Then record, on every server, the cluster marker\n")
			fmt.Fprintf(stdout, "-- (version 0, name '%s%s') and each migration in %s.schema_migrations\n", chcluster.MarkerPrefix, f.cluster, db)
			fmt.Fprintf(stdout, "-- (version UInt32, name String, applied_at DateTime): `refedge migrate --cluster` does all of it.\n")
			fmt.Fprintf(stdout, "CREATE DATABASE IF NOT EXISTS %s ON CLUSTER %s;\n", db, f.cluster)
			fmt.Fprintf(stdout, "CREATE TABLE IF NOT EXISTS %s.schema_migrations ON CLUSTER %s (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version;\n", db, f.cluster)
			for _, m := range out {
				fmt.Fprintf(stdout, "\n-- migration %s\n", m.Name)
				for _, s := range m.Statements {
					if s.Kind != chcluster.DDL {
						fmt.Fprintf(stdout, "-- %s:\n", s.Kind)
					}
					fmt.Fprintf(stdout, "%s;\n", s.SQL(true))
				}
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "refedge migrate: %v\n", err)
	return 1
}

// kafkaTopics runs `refedge kafka-topics`: create the topics of deploy/kafka/topics.json
// that the cluster lacks and report how existing ones differ from their spec. It reads
// only REFEDGE_KAFKA_BROKERS.
func kafkaTopics(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("refedge kafka-topics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", getenv("REFEDGE_KAFKA_BROKERS"), "comma-separated brokers (default REFEDGE_KAFKA_BROKERS)")
	file := fs.String("file", "", "topic specs (default: the embedded deploy/kafka/topics.json)")
	rf := fs.Int("replication-factor", 0, "replace every topic's replication factor (1 for a one-broker development cluster)")
	owner := fs.String("owner", "", "only the topics of this owner: refedge or marketplace")
	check := fs.Bool("check", false, "create nothing; exit 1 when a topic is missing or differs from its spec")
	timeout := fs.Duration("timeout", 30*time.Second, "bound of each request to the cluster")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var bs []string
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" && b != config.EmbeddedKafka {
			bs = append(bs, b)
		}
	}
	if len(bs) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "refedge kafka-topics: REFEDGE_KAFKA_BROKERS (or --brokers) must list the cluster's brokers")
		return 2
	}
	spec := kafkatopics.Default()
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err == nil {
			spec, err = kafkatopics.Parse(b)
		}
		if err != nil {
			fmt.Fprintf(stderr, "refedge kafka-topics: %s: %v\n", *file, err)
			return 2
		}
	}
	opts := kafkatopics.Options{ReplicationFactor: *rf, Check: *check, Timeout: *timeout}
	if *owner != "" {
		opts.Owners = []string{*owner}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	res, err := kafkatopics.Ensure(ctx, bs, spec, opts)
	code := 0
	for _, r := range res {
		fmt.Fprintf(stdout, "%-24s %s", r.Topic, r.Action)
		if len(r.Drift) > 0 {
			fmt.Fprintf(stdout, ": %s", strings.Join(r.Drift, "; "))
		}
		fmt.Fprintln(stdout)
		if r.Action == "drift" || r.Action == "missing" {
			code = 1
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "refedge kafka-topics: %v\n", err)
		return 1
	}
	return code
}

// probe runs `refedge probe [URL]`: GET URL and exit 0 on 200, 1 otherwise. The default
// URL is /readyz on REFEDGE_ADMIN_ADDR (an unspecified host means loopback). It is the
// health check of container images that have no shell or curl (deploy/compose).
func probe(args []string, getenv func(string) string, stderr io.Writer) int {
	url := ""
	switch len(args) {
	case 0:
		addr := getenv("REFEDGE_ADMIN_ADDR")
		if addr == "" {
			addr = "127.0.0.1:8081"
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			fmt.Fprintf(stderr, "refedge probe: REFEDGE_ADMIN_ADDR: %v\n", err)
			return 2
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		url = "http://" + net.JoinHostPort(host, port) + "/readyz"
	case 1:
		url = args[0]
	default:
		fmt.Fprintln(stderr, "usage: refedge probe [URL]")
		return 2
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintf(stderr, "refedge probe: %v\n", err)
		return 1
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "refedge probe: %s: %s %s\n", url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}
