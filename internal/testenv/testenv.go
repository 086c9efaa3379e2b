// Package testenv connects tests to the real servers they need: the Redis and
// ClickHouse that deploy/dev/services.sh starts on loopback, and a headless
// Chromium.
//
// Each helper finds its server from an environment variable
// (REFEDGE_TEST_REDIS_URL, REFEDGE_TEST_CLICKHOUSE_DSN; `services.sh env`
// prints them) or, for Chromium, on disk. When the server is missing or does
// not answer, the test is skipped with a hint on how to start it; under
// CI=true it fails instead, so a CI run never passes by skipping. See
// [Required].
//
// Isolation between tests, including tests of different packages that `go
// test ./...` runs at the same time:
//   - [Redis] leases a whole logical database for the test, flushes it
//     before and after use, and gives it back in t.Cleanup, so code under
//     test can use fixed key names. Of the server's N databases (16 by
//     default) it leases 1..N-2; the lease keys live in database N-1. Database
//     0, which the URL names, is left to tests that use the URL directly with
//     [KeyPrefix]. No test may run FLUSHALL. When every database is leased,
//     Redis waits up to a minute for one to come free.
//   - [KeyPrefix] gives a unique key prefix, for code that takes one (and for
//     Redis Cluster, which only has database 0).
//   - [ClickHouse] creates a database test_<random> and drops it in t.Cleanup.
//   - [Chromium] starts a browser of its own with a fresh profile.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"
)

// Environment variables read by this package.
const (
	EnvRedisURL      = "REFEDGE_TEST_REDIS_URL"      // e.g. redis://127.0.0.1:16379/0
	EnvClickHouseDSN = "REFEDGE_TEST_CLICKHOUSE_DSN" // e.g. clickhouse://127.0.0.1:19000/default
	EnvChromium      = "REFEDGE_TEST_CHROMIUM"       // optional path of the browser binary
)

// StartHint tells a developer how to provide the servers.
const StartHint = "run `deploy/dev/services.sh install && deploy/dev/services.sh start` " +
	"and `eval \"$(deploy/dev/services.sh env)\"` in the shell that runs the tests"

const (
	probeTimeout = 2 * time.Second
	// leaseTTL bounds how long a database stays leased after a test binary
	// dies without cleaning up; live leases are renewed every leaseTTL/3.
	leaseTTL       = 90 * time.Second
	leaseWait      = time.Minute
	leasePoll      = 50 * time.Millisecond
	chromiumLaunch = 30 * time.Second
	cleanupTimeout = 30 * time.Second
)

// Required marks the test as needing what, which is not available: it fails
// the test when CI=true and skips it otherwise. hint says how to provide it.
func Required(t testing.TB, what, hint string) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s is required but not available; %s", what, hint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (failing because CI=true)")
	}
	t.Skip(msg)
}

// probes remembers, per process, whether a server answered, so that a missing
// server costs one timeout per test binary rather than one per test.
var probes sync.Map // string -> func() error

func probeOnce(key string, probe func() error) error {
	f, _ := probes.LoadOrStore(key, sync.OnceValue(probe))
	return f.(func() error)()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------- Redis

// RedisURL returns REFEDGE_TEST_REDIS_URL once a PING to it has succeeded.
func RedisURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvRedisURL)
	if url == "" {
		Required(t, "Redis ("+EnvRedisURL+" is not set)", StartHint)
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("testenv: bad %s=%q: %v", EnvRedisURL, url, err)
	}
	err = probeOnce("redis "+url, func() error {
		opts := *opts
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = probeTimeout, probeTimeout, probeTimeout
		opts.MaxRetries = -1
		opts.DialerRetries = 1
		c := redis.NewClient(&opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		return c.Ping(ctx).Err()
	})
	if err != nil {
		Required(t, fmt.Sprintf("Redis at %s=%s (PING: %v)", EnvRedisURL, url, err), StartHint)
	}
	return url
}

// Redis returns a client on a logical database leased to this test alone and
// flushed; it is flushed again, released and the client closed in t.Cleanup.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	url := RedisURL(t)
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("testenv: bad %s: %v", EnvRedisURL, err)
	}
	ctx := t.Context()
	l, leases, err := acquireLease(ctx, opts, t.Name())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	opts.DB = l.db
	c := redis.NewClient(opts)
	if err := c.FlushDB(ctx).Err(); err != nil {
		l.release()
		c.Close()
		leases.Close()
		t.Fatalf("testenv: cannot flush Redis database %d: %v", l.db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := c.FlushDB(ctx).Err(); err != nil {
			t.Errorf("testenv: cannot flush Redis database %d: %v", l.db, err)
		}
		c.Close()
		l.release()
		leases.Close()
	})
	return c
}

// KeyPrefix returns a key prefix unique to this test run, such as
// "test:3f9c2a1b7d0e:".
func KeyPrefix(t testing.TB) string {
	return "test:" + randomHex(6) + ":"
}

type lease struct {
	db      int
	key     string
	token   string
	c       *redis.Client
	stop    chan struct{}
	stopped sync.WaitGroup
}

// releaseScript deletes the lease key only while it still holds our token.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// renewScript extends the lease only while it still holds our token.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 0`)

// acquireLease claims the first free database 1..N-2 with SET NX on the key
// testenv:lease:db:<n> in database N-1, polling until leaseWait has passed.
// It returns the lease and the client on database N-1 that holds it.
func acquireLease(ctx context.Context, opts *redis.Options, owner string) (*lease, *redis.Client, error) {
	probe := redis.NewClient(opts)
	n := 16
	if v, err := probe.ConfigGet(ctx, "databases").Result(); err == nil {
		if d, err := strconv.Atoi(v["databases"]); err == nil {
			n = d
		}
	}
	probe.Close()
	if n < 3 {
		return nil, nil, fmt.Errorf("Redis has %d databases; leasing needs at least 3", n)
	}
	leaseOpts := *opts
	leaseOpts.DB = n - 1
	c := redis.NewClient(&leaseOpts)
	token := owner + " " + randomHex(8)
	deadline := time.Now().Add(leaseWait)
	for {
		for db := 1; db < n-1; db++ {
			key := "testenv:lease:db:" + strconv.Itoa(db)
			ok, err := c.SetNX(ctx, key, token, leaseTTL).Result()
			if err != nil {
				c.Close()
				return nil, nil, fmt.Errorf("cannot lease a Redis database: %w", err)
			}
			if ok {
				l := &lease{db: db, key: key, token: token, c: c, stop: make(chan struct{})}
				l.stopped.Add(1)
				go l.renew()
				return l, c, nil
			}
		}
		if time.Now().After(deadline) {
			c.Close()
			return nil, nil, fmt.Errorf("all %d Redis test databases stayed leased for %v", n-2, leaseWait)
		}
		select {
		case <-ctx.Done():
			c.Close()
			return nil, nil, ctx.Err()
		case <-time.After(leasePoll):
		}
	}
}

func (l *lease) renew() {
	defer l.stopped.Done()
	tick := time.NewTicker(leaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
			renewScript.Run(ctx, l.c, []string{l.key}, l.token, leaseTTL.Milliseconds())
			cancel()
		}
	}
}

func (l *lease) release() {
	close(l.stop)
	l.stopped.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	releaseScript.Run(ctx, l.c, []string{l.key}, l.token)
}

// ---------------------------------------------------------------- ClickHouse

// ClickHouseDSN returns REFEDGE_TEST_CLICKHOUSE_DSN once a ping over the
// native protocol has succeeded. (clickhouse-go's HTTP mode does not work with
// ClickHouse 18.16.)
func ClickHouseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvClickHouseDSN)
	if dsn == "" {
		Required(t, "ClickHouse ("+EnvClickHouseDSN+" is not set)", StartHint)
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("testenv: bad %s=%q: %v", EnvClickHouseDSN, dsn, err)
	}
	err = probeOnce("clickhouse "+dsn, func() error {
		opts.DialTimeout = probeTimeout
		conn, err := clickhouse.Open(opts)
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		return conn.Ping(ctx)
	})
	if err != nil {
		Required(t, fmt.Sprintf("ClickHouse at %s=%s (ping: %v)", EnvClickHouseDSN, dsn, err), StartHint)
	}
	return dsn
}

// ClickHouse creates a fresh database test_<random> and returns a connection
// whose default database it is, and its name. The database is dropped and the
// connection closed in t.Cleanup.
func ClickHouse(t testing.TB) (conn driver.Conn, database string) {
	t.Helper()
	dsn := ClickHouseDSN(t)
	ctx := t.Context()
	adminOpts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("testenv: bad %s: %v", EnvClickHouseDSN, err)
	}
	admin, err := clickhouse.Open(adminOpts)
	if err != nil {
		t.Fatalf("testenv: cannot connect to ClickHouse at %s: %v", dsn, err)
	}
	database = "test_" + randomHex(6)
	if err := admin.Exec(ctx, "CREATE DATABASE "+database); err != nil {
		admin.Close()
		t.Fatalf("testenv: cannot create ClickHouse database %s: %v", database, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+database); err != nil {
			t.Errorf("testenv: cannot drop ClickHouse database %s: %v", database, err)
		}
		admin.Close()
	})
	opts, _ := clickhouse.ParseDSN(dsn) // parsed above
	opts.Auth.Database = database
	conn, err = clickhouse.Open(opts)
	if err != nil {
		t.Fatalf("testenv: cannot connect to ClickHouse database %s: %v", database, err)
	}
	t.Cleanup(func() { conn.Close() }) // runs before the drop above
	if err := conn.Ping(ctx); err != nil {
		t.Fatalf("testenv: cannot ping ClickHouse database %s: %v", database, err)
	}
	return conn, database
}

// ---------------------------------------------------------------- Chromium

// ChromiumPath returns the browser binary: REFEDGE_TEST_CHROMIUM if set, else
// /usr/bin/chromium, else chromium or chromium-browser on PATH; "" if none.
func ChromiumPath() string {
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Chromium starts a headless Chromium with a fresh profile and returns a
// chromedp context on its first tab; chromedp.NewContext(ctx) opens more tabs.
// The browser is stopped in t.Cleanup. Give each action its own timeout with
// a context derived from ctx, never a timeout on ctx itself. extra options are
// added after the defaults, e.g. chromedp.UserAgent(ua) for a browser whose
// every tab, popups included, sends a desktop Chrome User-Agent.
func Chromium(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := ChromiumPath()
	if path == "" {
		Required(t, "Chromium (no /usr/bin/chromium, no chromium on PATH)",
			"run `deploy/dev/services.sh install --browser`, or set "+EnvChromium)
	}
	if _, err := os.Stat(path); err != nil {
		Required(t, "Chromium at "+path+" ("+err.Error()+")",
			"run `deploy/dev/services.sh install --browser`, or set "+EnvChromium)
	}
	// TempDir before the cleanup below: cleanups run last-in first-out, so
	// the browser has exited before its profile folder is removed.
	profile := t.TempDir()
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Containers often have a 64 MB /dev/shm, too small for Chromium.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
	}, extra...)...)
	logf := testLogger(t)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf.printf))
	t.Cleanup(func() {
		cancel()
		allocCancel() // waits until the browser process has exited
		logf.stop()
	})
	if err := launch(ctx); err != nil {
		t.Fatalf("testenv: cannot start Chromium %s: %v", path, err)
	}
	return ctx
}

// launch starts the browser. The first chromedp call binds the browser's life
// to its context, so it gets ctx itself and the launch deadline is enforced
// by cancelling ctx instead.
func launch(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	timer := time.NewTimer(chromiumLaunch)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		_ = chromedp.Cancel(ctx)
		<-done
		return errors.New("no answer within " + chromiumLaunch.String())
	}
}

// safeLog forwards chromedp's messages to t.Logf until stop, after which the
// test may have finished and t.Logf would panic.
type safeLog struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func testLogger(t testing.TB) *safeLog { return &safeLog{t: t} }

func (l *safeLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("chromedp: "+strings.TrimSuffix(format, "\n"), args...)
	}
}

func (l *safeLog) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// Console collects the console messages of a browser tab.
type Console struct {
	mu   sync.Mutex
	msgs []string
}

// CollectConsole records the console messages of ctx's tab (from Chromium) until the
// test ends.
func CollectConsole(t testing.TB, ctx context.Context) *Console {
	t.Helper()
	c := &Console{}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { stop(); <-done })
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(lctx) {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m.String())
			c.mu.Unlock()
		}
	}()
	return c
}

// Messages returns the messages so far.
func (c *Console) Messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}
