package tracker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/clustertest"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/redisx"
	"github.com/refedge/refedge/internal/testenv"
)

// BenchmarkRedisStatePerClick drives lookups with windows through RedisState and its
// coalescer against the real Redis, from 64 parallel callers, and reports what Redis spent
// per lookup: its CPU from /proc/<pid>/stat (Redis must be local) and the commands it
// ran, from INFO commandstats. Mixes:
//   - distinct: every click valid and distinct (a new visitor from a new address on one
//     of 1,000 partners), the most Redis work a click makes;
//   - keepalive: deploy/bench/mix.lua's clicks that reach Redis, 80% as above and 20% a
//     returning visitor (one of 5,000, from one of 250 addresses) on one partner again.
//
// Redis is shared with whatever else runs on the machine, so its CPU is only this
// benchmark's on a quiet box; compare runs made together. Run with a fixed count, e.g.
//
//	go test ./tracker/ -run XXX -bench RedisStatePerClick -benchtime 100000x
func BenchmarkRedisStatePerClick(b *testing.B) {
	for _, mix := range []struct {
		name    string
		repeats int // percent of clicks that are a returning visitor's
	}{{"distinct", 0}, {"keepalive", 20}} {
		b.Run(mix.name, func(b *testing.B) {
			benchLookups(b, mix.repeats, func(rdb *redis.Client) StateStore { return &RedisState{Redis: rdb} })
		})
	}
}

// BenchmarkRedisStateClientPath compares the click's Redis client path before and after
// its commands and keys were reused (docs/performance.md, "Redis client path"): legacy
// is the former path (legacyState), reuse RedisState, in the same binary and run. Both
// as BenchmarkRedisStatePerClick, plus this process's CPU per lookup (getrusage: the
// coalescer, go-redis and the driving loop, the same for both) and allocations. Run
// with a fixed count and alternation, e.g.
//
//	go test ./tracker/ -run XXX -bench RedisStateClientPath -benchtime 100000x -count 3
func BenchmarkRedisStateClientPath(b *testing.B) {
	for _, mix := range []struct {
		name    string
		repeats int
	}{{"distinct", 0}, {"keepalive", 20}} {
		b.Run(mix.name+"/legacy", func(b *testing.B) {
			benchLookups(b, mix.repeats, func(rdb *redis.Client) StateStore { return &legacyState{Redis: rdb} })
		})
		b.Run(mix.name+"/reuse", func(b *testing.B) {
			benchLookups(b, mix.repeats, func(rdb *redis.Client) StateStore { return &RedisState{Redis: rdb} })
		})
	}
}

// BenchmarkRedisStateClientPathCluster is BenchmarkRedisStateClientPath's distinct mix on
// the dev Redis Cluster, where RedisState builds its commands per click: this process's
// CPU and allocations per lookup only (Redis's CPU is three processes' here).
//
//	go test ./tracker/ -run XXX -bench RedisStateClientPathCluster -benchtime 20000x
func BenchmarkRedisStateClientPathCluster(b *testing.B) {
	for _, name := range []string{"legacy", "reuse"} {
		b.Run(name, func(b *testing.B) {
			rdb, err := redisx.Open(clustertest.RedisCluster(b), false)
			if err != nil {
				b.Fatal(err)
			}
			defer rdb.Close()
			ctx := context.Background()
			run := strconv.FormatInt(time.Now().UnixNano(), 36)
			reg := &partners.Registry{Redis: rdb}
			for i := range 50 {
				if err := reg.Upsert(ctx, partners.Partner{ID: "cb-" + strconv.Itoa(i), Status: partners.Active, EmailConfirmed: true}); err != nil {
					b.Fatal(err)
				}
			}
			var st StateStore = &RedisState{Redis: rdb}
			if name == "legacy" {
				st = &legacyState{Redis: rdb}
			}
			b.ReportAllocs()
			own := driveLookups(b, st, func(n int64, q *StateQuery) {
				q.Partner = fmt.Appendf(q.Partner[:0], "cb-%d", n%50)
				q.Visitor = fmt.Appendf(q.Visitor[:0], "v:v%s%012d", run, n)
				q.IP = netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			})
			b.ReportMetric(float64(own)/1e3/float64(b.N), "cpu-µs/click")
		})
	}
}

// benchLookups drives lookups with windows through the store newStore makes, against the
// real Redis, from 64 parallel callers, and reports what Redis and this process spent per
// lookup. repeats is the percent of clicks that are a returning visitor's.
func benchLookups(b *testing.B, repeats int, newStore func(*redis.Client) StateStore) {
	rdb := testenv.Redis(b)
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range 1000 {
		pipe.HSet(ctx, partners.Key("bench-"+strconv.Itoa(i)), partners.FieldStatus, string(partners.Active),
			partners.FieldEmailConfirmed, "true")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	pid := redisPid(b, rdb)
	sent := &countingHook{}
	rdb.AddHook(sent)
	st := newStore(rdb)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	b.ReportAllocs()
	cpu0, cmds0 := procCPU(b, pid), commandCalls(b, rdb)
	sent.n.Store(0)
	own := driveLookups(b, st, func(n int64, q *StateQuery) {
		if int(n%100) < repeats {
			q.Partner = append(q.Partner[:0], "bench-1"...)
			q.Visitor = fmt.Appendf(q.Visitor[:0], "v:d%s%012d", run, n%5000)
			q.IP = netip.AddrFrom4([4]byte{10, 200, 0, byte(n % 250)})
		} else {
			q.Partner = fmt.Appendf(q.Partner[:0], "bench-%d", n%1000)
			q.Visitor = fmt.Appendf(q.Visitor[:0], "v:v%s%012d", run, n)
			q.IP = netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
		}
	})
	sentN := sent.n.Load()
	cpu1, cmds1 := procCPU(b, pid), commandCalls(b, rdb)
	b.ReportMetric(float64(own)/1e3/float64(b.N), "cpu-µs/click")
	b.ReportMetric(float64(cpu1-cpu0)*1e6/clockTicks/float64(b.N), "redis-cpu-µs/click")
	b.ReportMetric(float64(sentN)/float64(b.N), "sent-cmds/click")
	// Redis counts a script's own calls as commands too; the INFO call that
	// read the first figure is not the clicks'.
	b.ReportMetric(float64(cmds1-cmds0-1)/float64(b.N), "redis-cmds/click")
}

// driveLookups runs b.N lookups with windows through st from 64 parallel callers (as
// many as wrk's connections in make bench, so clicks share pipelines as they do under
// load), next setting each query from its sequence number, and returns this process's
// CPU over them in nanoseconds. A failed lookup fails the benchmark.
func driveLookups(b *testing.B, st StateStore, next func(n int64, q *StateQuery)) int64 {
	ctx := context.Background()
	var seq, failed atomic.Int64
	own0 := ownCPU(b)
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var out State
		q := StateQuery{Windows: true}
		for pb.Next() {
			next(seq.Add(1), &q)
			q.Now = time.Now()
			out = State{}
			if err := st.Lookup(ctx, &q, &out); err != nil {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	own := ownCPU(b) - own0
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d of %d lookups failed", f, b.N)
	}
	return own
}

// ownCPU is this process's user plus system CPU so far, in nanoseconds.
func ownCPU(b *testing.B) int64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// countingHook counts the commands a client sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on Linux.
const clockTicks = 100

// redisPid is the Redis server's process id, from INFO server.
func redisPid(b *testing.B, rdb *redis.Client) int {
	b.Helper()
	info, err := rdb.Info(context.Background(), "server").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
				b.Skipf("Redis (pid %d) is not a local process: %v", pid, err)
			}
			return pid
		}
	}
	b.Fatal("INFO server has no process_id")
	return 0
}

// procCPU is the process's user plus system CPU so far, in clock ticks.
func procCPU(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces:
	// state is field 3, utime 14 and stime 15 (proc(5)).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	ut, err1 := strconv.ParseInt(f[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(f[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("cannot parse /proc/%d/stat: %q", pid, s)
	}
	return ut + stime
}

// commandCalls is the number of commands Redis has run, from INFO commandstats.
func commandCalls(b *testing.B, rdb *redis.Client) int64 {
	b.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		// cmdstat_incr:calls=12,usec=3,usec_per_call=0.25,...
		_, rest, ok := strings.Cut(sc.Text(), ":calls=")
		if !ok {
			continue
		}
		v, _, _ := strings.Cut(rest, ",")
		c, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatalf("INFO commandstats: %q", sc.Text())
		}
		n += c
	}
	return n
}

// BenchmarkRedisCheckCost is what each check's commands cost Redis for a distinct key,
// and what the alternatives considered for them would (docs/performance.md, "Redis per
// click"): pipelines of 64 checks, Redis's CPU per check.
//
//	go test ./tracker/ -run XXX -bench RedisCheckCost -benchtime 100000x
func BenchmarkRedisCheckCost(b *testing.B) {
	ctx := context.Background()
	checks := []struct {
		name  string
		queue func(pipe redis.Pipeliner, key, field string, i int)
	}{
		{"limiter", func(pipe redis.Pipeliner, key, _ string, _ int) {
			pipe.Incr(ctx, key+":5")
			pipe.ExpireNX(ctx, key+":5", 3*time.Minute)
			pipe.Get(ctx, key+":4")
		}},
		{"limiter-bitfield", func(pipe redis.Pipeliner, key, _ string, _ int) {
			pipe.BitField(ctx, key, "OVERFLOW", "SAT", "INCRBY", "u16", "#1", 1, "GET", "u16", "#0", "SET", "u16", "#2", 0)
			pipe.PExpireAt(ctx, key, time.Now().Add(2*time.Minute))
		}},
		{"bitfield-alone", func(pipe redis.Pipeliner, key, _ string, _ int) {
			pipe.BitField(ctx, key, "OVERFLOW", "SAT", "INCRBY", "u16", "#1", 1, "GET", "u16", "#0", "SET", "u16", "#2", 0)
		}},
		{"limiter-hash-buckets", func(pipe redis.Pipeliner, _, field string, i int) {
			bucket := "rfe:bench:rl:{" + strconv.Itoa(i*7919%1024) + "}:"
			pipe.HIncrBy(ctx, bucket+"5", field, 1)
			pipe.ExpireNX(ctx, bucket+"5", 3*time.Minute)
			pipe.HGet(ctx, bucket+"4", field)
		}},
		{"duplicate-setnx", func(pipe redis.Pipeliner, key, _ string, _ int) {
			pipe.SetNX(ctx, key, "1", time.Hour)
		}},
		{"own-sismember", func(pipe redis.Pipeliner, key, _ string, _ int) {
			pipe.SIsMember(ctx, key, "v:AAAAAAAAAAAAAAAAAAAAAA")
		}},
	}
	for _, c := range checks {
		b.Run(c.name, func(b *testing.B) {
			rdb := testenv.Redis(b)
			pid := redisPid(b, rdb)
			run := strconv.FormatInt(time.Now().UnixNano(), 36)
			cpu0 := procCPU(b, pid)
			b.ResetTimer()
			for i := 0; i < b.N; i += 64 {
				pipe := rdb.Pipeline()
				for j := i; j < min(i+64, b.N); j++ {
					field := run + strconv.Itoa(j)
					c.queue(pipe, "rfe:bench:{"+field+"}", field, j)
				}
				if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(procCPU(b, pid)-cpu0)*1e6/clockTicks/float64(b.N), "redis-cpu-µs/check")
		})
	}
}
