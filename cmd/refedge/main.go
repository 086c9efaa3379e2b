// Command refedge is the referral and affiliate tracking edge. It only wires packages
// together; see README.md and docs/ for what each part does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/refedge/refedge/attribution/simulate"
	"github.com/refedge/refedge/internal/config"
)

const usage = `refedge — referral and affiliate tracking edge

Usage:
  refedge [serve]     run the edge: public and admin listeners (default)
  refedge migrate     create or upgrade the ClickHouse schema, then exit;
                      --cluster NAME [--replicated] [--print]: on every server of a ClickHouse
                      cluster, local tables plus Distributed tables sharded by partner
  refedge kafka-topics  create the Kafka topics of deploy/kafka/topics.json that are missing and
                      report drift (--check, --replication-factor N, --owner, --file; -h for all)
  refedge probe [URL] exit 0 when URL (default /readyz on REFEDGE_ADMIN_ADDR) answers 200:
                      the health check of images without a shell
  refedge kafka-dev   run the embedded Kafka broker alone (development, fault tests);
                      reads REFEDGE_KAFKA_EMBEDDED_ADDR and REFEDGE_KAFKA_DATA_DIR (persist the log)
  refedge dev-market  run a stand-in marketplace page for development (REFEDGE_DEV_MARKET_ADDR,
                      default 127.0.0.1:8090)
  refedge simulate    play the marketplace core against the brokers: partners, signed clicks,
                      signups, kworks, orders and refunds with controlled event time
                      (refedge simulate -h for its flags)
  refedge demo        play a few weeks of a partner's traffic (default demo) through the click
                      handler into ClickHouse and Kafka, and its signups, orders and a refund
                      through the broker to a running serve's ledger (make run does; -h for flags)
  refedge bench-ingest  measure the click pipeline (as serve builds it) into ClickHouse and
                      Kafka: events/s counted at both ends, RSS and Go heap (-h for its flags)
  refedge help        print this help

Configuration comes from environment variables, validated at start-up; a bad or
missing value stops the process with a message naming the variable.

Environment:
`

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, helpText())
		return 0
	case "serve", "migrate", "kafka-dev", "dev-market", "kafka-topics", "probe", "simulate", "bench-ingest", "demo":
	default:
		fmt.Fprintf(stderr, "refedge: unknown command %q\n\n%s", cmd, helpText())
		return 2
	}
	switch cmd {
	case "kafka-dev":
		return kafkaDev(getenv, stderr)
	case "dev-market":
		return devMarket(getenv, stderr)
	case "kafka-topics":
		return kafkaTopics(args[1:], getenv, stdout, stderr)
	case "probe":
		return probe(args[1:], getenv, stderr)
	case "simulate":
		return simulate.Main(args[1:], getenv, stdout, stderr)
	case "bench-ingest":
		return benchIngest(args[1:], getenv, stdout, stderr)
	case "demo":
		return demoTraffic(args[1:], getenv, stdout, stderr)
	}
	var mflags migrateFlags
	if cmd == "migrate" {
		var err error
		if mflags, err = parseMigrateFlags(args[1:], stderr); err != nil {
			return 2
		}
		if mflags.print {
			return printClusterDDL(mflags, getenv, stdout, stderr)
		}
	}
	cfg, err := config.Load(getenv)
	var parts *partConfigs
	if cmd == "serve" {
		var perr error
		parts, perr = loadParts(getenv)
		if err == nil {
			err = cfg.ServeRules()
		}
		err = errors.Join(err, perr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "refedge: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return 2
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch cmd {
	case "migrate":
		err = migrateCmd(ctx, cfg, log, mflags)
	default:
		var app *App
		if app, err = NewApp(ctx, cfg, parts, log); err == nil {
			err = app.Run(ctx)
		}
	}
	if err != nil {
		log.Error("refedge stopped with an error", "cmd", cmd, "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
