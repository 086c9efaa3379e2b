package testenv_test

import (
	"syscall"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/testenv"
)

// A private Redis refuses connections while stopped and keeps its data across a
// restart on the same port.
func TestPrivateRedisRestart(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	opts, err := redis.ParseURL(r.URL(3))
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxRetries = -1
	c := redis.NewClient(opts)
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.Pid()
	r.Stop(syscall.SIGTERM)
	if r.Running() {
		t.Fatal("Running after Stop")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered while the server is stopped")
	}
	r.Start()
	if r.Pid() == pid {
		t.Fatalf("same pid %d after a restart", pid)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after restart GET = %q, %v; want v", got, err)
	}
}

// A private ClickHouse killed with SIGKILL comes back on the same port with the rows
// it had acknowledged.
func TestPrivateClickHouseRestart(t *testing.T) {
	t.Parallel()
	s := testenv.StartClickHouse(t)
	opts, err := clickhouse.ParseDSN(s.DSN("default"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := t.Context()
	if err := conn.Exec(ctx, "CREATE TABLE t (n UInt32) ENGINE = MergeTree() ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO t (n)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := b.Append(uint32(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	s.Stop(syscall.SIGKILL)
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("ping answered while the server is stopped")
	}
	s.Start()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Fatalf("after restart %d rows, want 10", n)
	}
}
