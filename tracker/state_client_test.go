package tracker

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/clustertest"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/redisx"
	"github.com/refedge/refedge/internal/testenv"
)

// commandLog records the commands a client sends, each as its arguments printed one by
// one (a keyArg prints as its key, an int64 as its digits: what Redis receives).
type commandLog struct {
	mu   sync.Mutex
	cmds []string
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(cmd)
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			l.add(c)
		}
		return next(ctx, cmds)
	}
}

func (l *commandLog) add(cmd redis.Cmder) {
	args := make([]string, len(cmd.Args()))
	for i, a := range cmd.Args() {
		args[i] = fmt.Sprint(a)
	}
	l.mu.Lock()
	l.cmds = append(l.cmds, strings.Join(args, " "))
	l.mu.Unlock()
}

func (l *commandLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.cmds
	l.cmds = nil
	return out
}

// seedPartners registers the same partners in rdb: active, blocked, unconfirmed, and
// one active partner with an own visitor.
func seedPartners(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := t.Context()
	reg := &partners.Registry{Redis: rdb}
	for _, p := range []partners.Partner{
		{ID: "act", Status: partners.Active, EmailConfirmed: true},
		{ID: "own", Status: partners.Active, EmailConfirmed: true},
		{ID: "blk", Status: partners.Blocked, EmailConfirmed: true},
		{ID: "unc", Status: partners.Active},
	} {
		if err := reg.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := reg.AddVisitor(ctx, "own", "selfie"); err != nil {
		t.Fatal(err)
	}
}

// RedisState sends byte for byte the commands the go-redis helpers sent before its
// commands were reused (legacyState), and reads the same states, over a long random
// history of clicks: partners of every standing and none, returning and new visitors
// and addresses, lookups with and without windows, the clock moving across the
// limiters' windows. Each configuration runs against its own pair of databases.
func TestRedisStateSameAsLegacy(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    Quality
		ttl  time.Duration
		step int // the clock moves up to this many milliseconds between clicks
		// perClick: commands built for each click, as on Redis Cluster.
		perClick bool
	}{
		{"defaults", Quality{}, 0, 30, false},
		{"tight-limits-no-cache", Quality{VisitorRate: 3, VisitorBurst: 3, IPRate: 10, IPBurst: 5, PartnerRate: 7, DuplicateWindow: 90 * time.Second}, -1, 900, false},
		{"precise-window", Quality{VisitorRate: 40, VisitorBurst: 2, IPRate: 6, IPBurst: 6, PartnerRate: 20, DuplicateWindow: 1500 * time.Millisecond}, time.Second, 900, false},
		{"per-click-commands", Quality{VisitorRate: 3, VisitorBurst: 3, IPRate: 10, IPBurst: 5, PartnerRate: 7, DuplicateWindow: 1500 * time.Millisecond}, time.Second, 900, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oldDB, newDB := testenv.Redis(t), testenv.Redis(t)
			seedPartners(t, oldDB)
			seedPartners(t, newDB)
			oldLog, newLog := &commandLog{}, &commandLog{}
			oldDB.AddHook(oldLog)
			newDB.AddHook(newLog)
			old := &legacyState{Redis: oldDB, Quality: tc.q, PartnerTTL: tc.ttl}
			st := &RedisState{Redis: newDB, Quality: tc.q, PartnerTTL: tc.ttl}
			if tc.perClick {
				st.once.Do(st.init)
				st.reuse = false
			}
			ctx := t.Context()
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			ids := []string{"act", "own", "blk", "unc", "nobody", "act"}
			now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
			seen := map[string]int{}
			for i := range 600 {
				now = now.Add(time.Duration(rng.IntN(tc.step)) * time.Millisecond)
				q := StateQuery{
					Partner: []byte(ids[rng.IntN(len(ids))]),
					Visitor: fmt.Appendf(nil, "v:%d", rng.IntN(12)),
					IP:      netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(2))}),
					Now:     now,
					Windows: rng.IntN(5) > 0,
				}
				switch rng.IntN(10) {
				case 0:
					q.Visitor = []byte("v:selfie")
				case 1:
					q.Visitor = fmt.Appendf(nil, "h:%032x", rng.Uint64())
				case 2:
					q.IP = netip.MustParseAddr("2001:db8::1")
				}
				var want, got State
				errOld := old.Lookup(ctx, &q, &want)
				errNew := st.Lookup(ctx, &q, &got)
				if (errOld != nil) != (errNew != nil) || want != got {
					t.Fatalf("click %d %s/%s/%s windows %v: legacy %+v, %v; now %+v, %v", i, q.Partner, q.Visitor, q.IP, q.Windows, want, errOld, got, errNew)
				}
				for name, on := range map[string]bool{"duplicate": got.Duplicate, "own visitor": got.OwnVisitor,
					"visitor limited": got.VisitorLimited, "address limited": got.IPLimited, "partner limited": got.PartnerLimited,
					"blocked": got.Partner == PartnerBlocked, "unconfirmed": got.Partner == PartnerUnconfirmed,
					"unknown": got.Partner == PartnerUnknown, "active and clean": got == State{Partner: PartnerActive}} {
					if on {
						seen[name]++
					}
				}
				if w, g := oldLog.take(), newLog.take(); strings.Join(w, "\n") != strings.Join(g, "\n") {
					t.Fatalf("click %d: commands differ\nlegacy:\n%s\nnow:\n%s", i, strings.Join(w, "\n"), strings.Join(g, "\n"))
				}
			}
			// The history must have reached every outcome, or it compared too little.
			for _, name := range []string{"duplicate", "own visitor", "visitor limited", "address limited", "blocked", "unconfirmed", "unknown", "active and clean"} {
				if seen[name] == 0 {
					t.Errorf("no click was %s: %v", name, seen)
				}
			}
			if tc.q.PartnerRate > 0 && seen["partner limited"] == 0 {
				t.Errorf("no click was partner limited: %v", seen)
			}
		})
	}
}

// Concurrent clicks share pipelines and reuse each other's commands and key buffers;
// every click still gets its own answers: a visitor's first click is no duplicate and
// its later ones are, and its limiter counts exactly its own clicks.
func TestRedisStateConcurrentClicksKeepTheirAnswers(t *testing.T) {
	rdb := testenv.Redis(t)
	seedPartners(t, rdb)
	st := &RedisState{Redis: rdb, Quality: Quality{VisitorRate: 4, VisitorBurst: 4, IPRate: 1000, IPBurst: 1000}}
	now := time.Now()
	const visitors, clicks = 48, 8
	var wg sync.WaitGroup
	errs := make(chan error, visitors)
	for v := range visitors {
		wg.Go(func() {
			for i := range clicks {
				q := StateQuery{Partner: []byte("act"), Visitor: fmt.Appendf(nil, "v:conc-%d", v),
					IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(v)}), Now: now, Windows: true}
				var s State
				if err := st.Lookup(t.Context(), &q, &s); err != nil {
					errs <- err
					return
				}
				// Burst 4 at one instant: clicks 0 to 3 pass, the rest are limited.
				if s.Partner != PartnerActive || s.Duplicate != (i > 0) || s.VisitorLimited != (i >= 4) || s.IPLimited || s.OwnVisitor {
					errs <- fmt.Errorf("visitor %d click %d: %+v", v, i, s)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A Redis error on one click's command fails that click's lookup (the edge then marks
// the click degraded), and the pooled commands it used answer correctly again for the
// next clicks: an error left on a reused command must not leak into them.
func TestRedisStateErrorDoesNotStick(t *testing.T) {
	rdb := testenv.Redis(t)
	seedPartners(t, rdb)
	st := &RedisState{Redis: rdb}
	ctx := t.Context()
	now := time.Now()
	ip := netip.MustParseAddr("203.0.113.9")
	// Every window key of the address, for the windows around now, holds a hash:
	// INCR answers WRONGTYPE.
	var keys []string
	for d := -1; d <= 1; d++ {
		span := burstSpan(60, 60).Milliseconds()
		keys = append(keys, fmt.Sprintf("rfe:rl:ip:{%s}:%d", ip, now.UnixMilli()/span+int64(d)))
	}
	for _, k := range keys {
		if err := rdb.HSet(ctx, k, "f", "v").Err(); err != nil {
			t.Fatal(err)
		}
	}
	q := StateQuery{Partner: []byte("act"), Visitor: []byte("v:err"), IP: ip, Now: now, Windows: true}
	var s State
	err := st.Lookup(ctx, &q, &s)
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("lookup with the address's counter a hash: %v, %+v; want WRONGTYPE", err, s)
	}
	if err := rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s = State{}
		q.Visitor = fmt.Appendf(nil, "v:after-%d", i)
		if err := st.Lookup(ctx, &q, &s); err != nil {
			t.Fatalf("lookup %d after the error: %v", i, err)
		}
		if s.Partner != PartnerActive || s.Duplicate || s.IPLimited || s.VisitorLimited {
			t.Fatalf("lookup %d after the error: %+v", i, s)
		}
	}
}

// With Redis unreachable every lookup fails, as the legacy path's did, and when it is
// reachable again the same RedisState answers.
func TestRedisStateBrokenConnection(t *testing.T) {
	real := testenv.Redis(t)
	seedPartners(t, real)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	up := false
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			isUp := up
			mu.Unlock()
			if !isUp {
				c.Close()
				continue
			}
			b, err := net.Dial("tcp", real.Options().Addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, b)
			mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), DB: real.Options().DB, MaxRetries: -1})
	t.Cleanup(func() { client.Close() })
	ctx := t.Context()
	q := StateQuery{Partner: []byte("act"), Visitor: []byte("v:down"), IP: netip.MustParseAddr("203.0.113.10"), Now: time.Now(), Windows: true}
	for _, s := range []StateStore{&RedisState{Redis: client, PartnerTTL: -1}, &legacyState{Redis: client, PartnerTTL: -1}} {
		var out State
		if err := s.Lookup(ctx, &q, &out); err == nil {
			t.Fatalf("%T: lookup with Redis unreachable: no error, %+v", s, out)
		}
	}
	st := &RedisState{Redis: client, PartnerTTL: -1}
	var out State
	if err := st.Lookup(ctx, &q, &out); err == nil {
		t.Fatal("lookup with Redis unreachable: no error")
	}
	mu.Lock()
	up = true
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = State{}
		q.Visitor = fmt.Appendf(q.Visitor[:0], "v:up-%d", time.Now().UnixNano())
		err := st.Lookup(ctx, &q, &out)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis reachable again, lookups still fail: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	if out.Partner != PartnerActive || out.Duplicate || out.IPLimited || out.VisitorLimited {
		t.Fatalf("after recovery: %+v", out)
	}
}

// On Redis Cluster every command of a click goes straight to the master of its key:
// go-redis memoises a command's hash slot in the command, so a command reused for
// another click's key would first go to the previous key's master and come back MOVED.
// Clicks with partners, visitors and addresses on every master must cause no MOVED.
func TestRedisStateOnClusterSendsNoMoved(t *testing.T) {
	rdb, err := redisx.Open(clustertest.RedisCluster(t), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	cc := rdb.UniversalClient.(*redis.ClusterClient)
	ctx := t.Context()
	moved := func() int64 {
		var mu sync.Mutex
		var n int64
		err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			info, err := m.Info(ctx, "errorstats").Result()
			if err != nil {
				return err
			}
			for line := range strings.Lines(info) {
				// errorstat_MOVED:count=3
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "errorstat_MOVED:count="); ok {
					c, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return fmt.Errorf("INFO errorstats: %q", line)
					}
					mu.Lock()
					n += c
					mu.Unlock()
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	reg := &partners.Registry{Redis: rdb}
	for i := range 8 {
		if err := reg.Upsert(ctx, partners.Partner{ID: fmt.Sprintf("mv-%s-%d", run, i), Status: partners.Active, EmailConfirmed: true}); err != nil {
			t.Fatal(err)
		}
	}
	st := &RedisState{Redis: rdb, PartnerTTL: -1}
	before := moved()
	for i := range 200 {
		q := StateQuery{Partner: fmt.Appendf(nil, "mv-%s-%d", run, i%8), Visitor: fmt.Appendf(nil, "v:mv-%s-%d", run, i),
			IP: netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)}), Now: time.Now(), Windows: true}
		var s State
		if err := st.Lookup(ctx, &q, &s); err != nil {
			t.Fatalf("click %d: %v", i, err)
		}
		if s != (State{Partner: PartnerActive}) {
			t.Fatalf("click %d, a new visitor from a new address: %+v", i, s)
		}
	}
	if n := moved() - before; n != 0 {
		t.Fatalf("%d MOVED answers during 200 clicks", n)
	}
}

func TestSingleNode(t *testing.T) {
	f := func(c redis.UniversalClient, want bool) {
		t.Helper()
		defer c.Close()
		if got := singleNode(c); got != want {
			t.Errorf("singleNode(%T) = %v, want %v", c, got, want)
		}
	}
	f(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), true)
	f(&redisx.Client{UniversalClient: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})}, true)
	f(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), false)
	f(&redisx.Client{UniversalClient: redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})}, false)
	f(redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}}), false)
}
