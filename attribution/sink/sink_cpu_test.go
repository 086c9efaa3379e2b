package sink_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/pipeline"
	"github.com/refedge/refedge/attribution/sink"
	"github.com/refedge/refedge/attribution/spool"
	"github.com/refedge/refedge/deploy/bench/ingest"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/testenv"
)

// TestSinkPathCPU measures what the edge's process spends per click after the handler:
// realistic clicks enqueued at a steady rate into the click pipeline as serve builds it
// (default batch, queue and flush settings, a spool directory) with the ClickHouse and
// Kafka sinks, to the dev ClickHouse and to a broker in a child process (so that the
// broker's CPU is not counted). It reports the process's CPU time (getrusage) and Go
// allocations per click, for both sinks and each alone, taking turns over the rounds.
// Clicks are filled before each round, so the generator is not counted. It runs only
// when asked: REFEDGE_BENCH_SINKS=1 (REFEDGE_BENCH_SINKS_RATE clicks/s, default 20000;
// REFEDGE_BENCH_SINKS_CLICKS per round, default 100000; REFEDGE_BENCH_SINKS_ROUNDS,
// default 3; REFEDGE_BENCH_SINKS_TICK_US, the producer's tick, default 1000;
// REFEDGE_BENCH_SINKS_ONLY, a comma-separated list of variants).
// docs/performance.md, "Sinks per click", has the figures.
func TestSinkPathCPU(t *testing.T) {
	if os.Getenv("REFEDGE_BENCH_SINKS") != "1" {
		t.Skip("set REFEDGE_BENCH_SINKS=1 to measure")
	}
	envInt := func(name string, def int) int {
		if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
			return v
		}
		return def
	}
	rate, n, rounds := envInt("REFEDGE_BENCH_SINKS_RATE", 20000), envInt("REFEDGE_BENCH_SINKS_CLICKS", 100000),
		envInt("REFEDGE_BENCH_SINKS_ROUNDS", 3)
	// The producer enqueues a tick's clicks at once; ticks of 50 µs at 20,000/s space
	// every click apart, as a server's requests are.
	tickEvery := time.Duration(envInt("REFEDGE_BENCH_SINKS_TICK_US", 1000)) * time.Microsecond
	ctx := t.Context()
	conn, db := testenv.ClickHouse(t)
	if err := sink.Migrate(ctx, conn, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	brokers := childBroker(t)
	w := sink.NewWriter(brokers, event.TopicClicks)
	defer w.Close()
	variants := []struct {
		name  string
		sinks func() []pipeline.Sink[*event.Click]
	}{
		{"both", func() []pipeline.Sink[*event.Click] {
			return []pipeline.Sink[*event.Click]{&sink.ClickHouseClicks{Conn: conn, DB: db}, &sink.KafkaClicks{W: w}}
		}},
		{"clickhouse", func() []pipeline.Sink[*event.Click] {
			return []pipeline.Sink[*event.Click]{&sink.ClickHouseClicks{Conn: conn, DB: db}}
		}},
		{"kafka", func() []pipeline.Sink[*event.Click] { return []pipeline.Sink[*event.Click]{&sink.KafkaClicks{W: w}} }},
		{"none", func() []pipeline.Sink[*event.Click] { return nil }},
		{"producer", nil}, // the paced loop alone: no pipeline, each click released
	}
	if only := os.Getenv("REFEDGE_BENCH_SINKS_ONLY"); only != "" {
		keep := variants[:0]
		for _, v := range variants {
			if slices.Contains(strings.Split(only, ","), v.name) {
				keep = append(keep, v)
			}
		}
		variants = keep
	}
	gen := ingest.NewGenerator(3)
	type result struct{ cpu, allocs []float64 }
	res := map[string]*result{}
	for r := range rounds {
		for _, v := range variants {
			clicks := make([]*event.Click, n)
			now := time.Now()
			for i := range clicks {
				clicks[i] = event.AcquireClick()
				gen.Fill(clicks[i], now)
			}
			enqueue, stop := func(c *event.Click) error { event.ReleaseClick(c); return nil }, func() error { return nil }
			if v.sinks != nil {
				p, err := pipeline.NewSpooled(pipeline.Config{Name: "clicks", Logger: slog.New(slog.DiscardHandler)},
					spool.Config{Dir: t.TempDir()}, event.ClickCodec, event.ReleaseClick, v.sinks()...)
				if err != nil {
					t.Fatal(err)
				}
				enqueue, stop = p.Enqueue, func() error { return p.Stop(ctx) }
			}
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			c0 := processCPU()
			perTick := max(1, int(int64(rate)*int64(tickEvery)/int64(time.Second)))
			tick := time.NewTicker(tickEvery)
			for i := 0; i < n; {
				<-tick.C
				for j := 0; j < perTick && i < n; j++ {
					if err := enqueue(clicks[i]); err != nil {
						t.Fatal(err)
					}
					i++
				}
			}
			tick.Stop()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			c1 := processCPU()
			runtime.ReadMemStats(&m1)
			x := res[v.name]
			if x == nil {
				x = &result{}
				res[v.name] = x
			}
			x.cpu = append(x.cpu, float64((c1-c0).Nanoseconds())/float64(n)/1000)
			x.allocs = append(x.allocs, float64(m1.Mallocs-m0.Mallocs)/float64(n))
			t.Logf("round %d %-10s %6.2f µs CPU/click %6.3f allocs/click %4d GCs", r+1, v.name,
				x.cpu[len(x.cpu)-1], x.allocs[len(x.allocs)-1], m1.NumGC-m0.NumGC)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	for _, v := range variants {
		x := res[v.name]
		t.Logf("%-10s CPU µs/click min %.2f rounds %.2f; allocs/click min %.3f", v.name, minOf(x.cpu), x.cpu, minOf(x.allocs))
	}
	t.Logf("load average %s", strings.TrimSpace(string(load)))
}

func minOf(xs []float64) float64 {
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

// processCPU returns the user+system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childBroker starts the embedded broker in a child process (this test binary, as
// TestSinkBenchBroker) and returns its addresses.
func childBroker(t *testing.T) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestSinkBenchBroker$")
	cmd.Env = append(os.Environ(), "REFEDGE_SINKBENCH_BROKER=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addrs, ok := strings.CutPrefix(sc.Text(), "broker "); ok {
			go func() { // drain the rest
				for sc.Scan() {
				}
			}()
			return strings.Split(addrs, ",")
		}
	}
	t.Fatalf("the broker child exited without an address: %v", sc.Err())
	return nil
}

// TestSinkBenchBroker is the broker child of TestSinkPathCPU; it runs only there.
func TestSinkBenchBroker(t *testing.T) {
	if os.Getenv("REFEDGE_SINKBENCH_BROKER") != "1" {
		t.Skip("the broker child of TestSinkPathCPU")
	}
	// 24 partitions, as referral.clicks has (deploy/kafka/topics.json).
	b, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: []string{event.TopicClicks}, Partitions: 24})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fmt.Println("broker " + strings.Join(b.Addrs(), ","))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	<-ctx.Done()
}
