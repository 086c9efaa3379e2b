package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"golang.org/x/time/rate"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/internal/config"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/redisx"
)

// deps are the clients serve and migrate share.
type deps struct {
	redis   *redisx.Client
	ch      driver.Conn
	chDB    string
	broker  *kafkax.Embedded
	brokers []string
}

func (d *deps) close(log *slog.Logger) {
	step(log, "close ClickHouse", func() error {
		if d.ch != nil {
			return d.ch.Close()
		}
		return nil
	})
	step(log, "close Redis", func() error {
		if d.redis != nil {
			return d.redis.Close()
		}
		return nil
	})
	if d.broker != nil {
		step(log, "stop embedded Kafka broker", func() error { d.broker.Close(); return nil })
	}
}

func openClickHouse(ctx context.Context, cfg *config.Config, log *slog.Logger, d *deps) error {
	var err error
	d.ch, d.chDB, err = sink.OpenClickHouse(ctx, cfg.ClickHouseDSN)
	if err != nil {
		return err
	}
	return sink.Migrate(ctx, d.ch, d.chDB, log)
}

func migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	d := &deps{}
	defer d.close(log)
	return openClickHouse(ctx, cfg, log, d)
}

func openDeps(ctx context.Context, cfg *config.Config, log *slog.Logger) (*deps, error) {
	d := &deps{}
	var err error
	if d.redis, err = redisx.Open(cfg.RedisURL, cfg.Dev); err != nil {
		return d, err
	}
	if d.redis.Embedded != nil {
		log.Warn("using the embedded Redis (REFEDGE_DEV=1): state is lost at exit", "addr", d.redis.Embedded.Addr())
	}
	if cfg.EmbeddedKafka() {
		if !cfg.Dev && len(cfg.KafkaBrokers) == 0 {
			return d, errors.New("REFEDGE_KAFKA_BROKERS: is required")
		}
		d.broker, err = kafkax.StartEmbedded(kafkax.EmbeddedConfig{Addr: cfg.KafkaEmbeddedAddr, Topics: event.AllTopics})
		if err != nil {
			return d, fmt.Errorf("REFEDGE_KAFKA_EMBEDDED_ADDR: %w", err)
		}
		d.brokers = d.broker.Addrs()
		log.Info("embedded Kafka broker started", "addrs", d.brokers)
	} else {
		d.brokers = cfg.KafkaBrokers
		go logKafkaTopics(ctx, d.brokers, log)
	}
	if d.ch, d.chDB, err = sink.OpenClickHouse(ctx, cfg.ClickHouseDSN); err != nil {
		return d, err
	}
	if perr := d.ch.Ping(ctx); perr != nil {
		// Start anyway: clicks redirect and spool; the schema is applied when ClickHouse
		// answers. A restart during an outage must not crash-loop the edge.
		log.Warn("ClickHouse does not answer; starting without it: events spool until it does, migrations run then", "err", perr)
		go migrateWhenReachable(ctx, d, log)
		return d, nil
	}
	return d, sink.Migrate(ctx, d.ch, d.chDB, log)
}

// migrateWhenReachable applies the schema once ClickHouse answers, retrying with
// backoff until ctx ends.
func migrateWhenReachable(ctx context.Context, d *deps, log *slog.Logger) {
	wait := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		err := d.ch.Ping(ctx)
		if err == nil {
			if err = sink.Migrate(ctx, d.ch, d.chDB, log); err == nil {
				log.Info("ClickHouse answers; schema is up to date")
				return
			}
		}
		wait = min(2*wait, 30*time.Second)
		log.Warn("ClickHouse still unavailable; will retry the migrations", "retry_in", wait, "err", err)
	}
}

// step runs one shutdown step and logs its duration.
func step(log *slog.Logger, name string, fn func() error) {
	start := time.Now()
	err := fn()
	if err != nil {
		log.Error("shutdown step failed", "step", name, "duration", time.Since(start), "err", err)
		return
	}
	log.Info("shutdown step done", "step", name, "duration", time.Since(start))
}

// fasthttpLogger takes fasthttp's messages (one per malformed request or failed
// connection). It withholds the request bytes fasthttp quotes ("contents: ..." may hold
// cookies and tokens; secrets never reach the logs) and keeps a flood of bad requests
// from flooding the log: at most fasthttpLogBurst lines, refilled at fasthttpLogRate per
// second, the rest counted and reported with the next line that passes.
type fasthttpLogger struct {
	log        *slog.Logger
	limit      *rate.Limiter
	suppressed atomic.Int64
}

const (
	fasthttpLogRate  = 5
	fasthttpLogBurst = 20
)

func newFasthttpLogger(log *slog.Logger) *fasthttpLogger {
	return &fasthttpLogger{log: log, limit: rate.NewLimiter(fasthttpLogRate, fasthttpLogBurst)}
}

func (l *fasthttpLogger) Printf(format string, args ...any) {
	if !l.limit.Allow() {
		l.suppressed.Add(1)
		return
	}
	msg := withholdRequestBytes(fmt.Sprintf(format, args...))
	if n := l.suppressed.Swap(0); n > 0 {
		l.log.Warn(msg, "component", "fasthttp", "suppressed_before", n)
		return
	}
	l.log.Warn(msg, "component", "fasthttp")
}

// withholdRequestBytes cuts the request fasthttp quotes out of its message: the
// "buffer size=..., contents: ..." tail, and every quoted string after "error when
// reading request" (`unsupported http version "X" in "GET / X\r\nCookie: ..."`). The
// peer addresses before it stay.
func withholdRequestBytes(msg string) string {
	cut := false
	for _, marker := range []string{"buffer size=", "Buffer size=", "contents:"} {
		if i := strings.Index(msg, marker); i >= 0 {
			msg, cut = strings.TrimRight(msg[:i], ":., "), true
		}
	}
	if i := strings.Index(msg, "error when reading request"); i >= 0 {
		if tail := quotedRE.ReplaceAllString(msg[i:], `"…"`); tail != msg[i:] {
			msg, cut = msg[:i]+tail, true
		}
	}
	if cut {
		msg += " (request bytes withheld)"
	}
	return msg
}

// quotedRE matches a Go-quoted string (%q), escapes included.
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
