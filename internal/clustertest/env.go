package clustertest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/sink"
	chcluster "github.com/refedge/refedge/deploy/clickhouse/cluster"
	"github.com/refedge/refedge/internal/testenv"
)

// Environment variables `deploy/dev/services.sh env` prints for the clusters.
const (
	EnvRedisCluster      = "REFEDGE_TEST_REDIS_CLUSTER"      // seeds, e.g. 127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003
	EnvClickHouseCluster = "REFEDGE_TEST_CLICKHOUSE_CLUSTER" // cluster name, e.g. refedge_2s
	EnvClickHouse2DSN    = "REFEDGE_TEST_CLICKHOUSE2_DSN"    // the second shard, e.g. clickhouse://127.0.0.1:19001/default
)

// Defaults match deploy/dev/services.sh.
const (
	defaultRedisCluster = "127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003"
	defaultCluster      = "refedge_2s"
	defaultCH1          = "clickhouse://127.0.0.1:19000/default"
	defaultCH2          = "clickhouse://127.0.0.1:19001/default"
)

// StartHint tells a developer how to provide the clusters.
const StartHint = "run `deploy/dev/services.sh install && deploy/dev/services.sh start-cluster` " +
	"and `eval \"$(deploy/dev/services.sh env)\"`"

// RepoRoot is the repository's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// startClusters runs `services.sh start-cluster` once per test binary; concurrent
// binaries serialise on the script's lock, and a running cluster makes it a no-op.
var startClusters = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(RepoRoot(), "deploy", "dev", "services.sh"), "start-cluster")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("services.sh start-cluster: %v\n%s", err, out)
	}
	return nil
})

// ensure probes, and when the probe fails starts the clusters and probes again.
func ensure(t testing.TB, what string, probe func() error) {
	t.Helper()
	err := probe()
	if err == nil {
		return
	}
	if serr := startClusters(); serr != nil {
		testenv.Required(t, what, fmt.Sprintf("%s (%v; starting it: %v)", StartHint, err, serr))
	}
	// A cluster just started may need a moment until every node agrees.
	deadline := time.Now().Add(30 * time.Second)
	for err = probe(); err != nil && time.Now().Before(deadline); err = probe() {
		time.Sleep(100 * time.Millisecond) // polling a server that is starting, with a deadline
	}
	if err != nil {
		testenv.Required(t, what, fmt.Sprintf("%s (%v)", StartHint, err))
	}
}

// RedisCluster returns the seeds of the Redis Cluster (REFEDGE_TEST_REDIS_CLUSTER,
// default the services.sh ports), in the comma-separated form REFEDGE_REDIS_URL takes.
func RedisCluster(t testing.TB) string {
	t.Helper()
	seeds := getenv(EnvRedisCluster, defaultRedisCluster)
	ensure(t, "Redis Cluster at "+seeds, func() error { return probeRedisCluster(seeds) })
	return seeds
}

func probeRedisCluster(seeds string) error {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(seeds, ","),
		DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var masters atomic.Int32 // ForEachMaster calls concurrently
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return errors.New("cluster_state is not ok")
		}
		masters.Add(1)
		return nil
	})
	if err == nil && masters.Load() < 3 {
		err = fmt.Errorf("%d masters, want 3", masters.Load())
	}
	return err
}

// CHCluster is the two-shard ClickHouse cluster.
type CHCluster struct {
	// Name is the cluster in both servers' remote_servers.
	Name string
	// DSNs of the two servers (shard 1, shard 2), database "default".
	DSNs [2]string
}

// DSN returns shard i's DSN (0 or 1) for database db.
func (c CHCluster) DSN(i int, db string) string {
	return strings.TrimSuffix(c.DSNs[i], "/default") + "/" + db
}

// ClickHouseCluster returns the two-shard cluster, once both servers answer and define it.
func ClickHouseCluster(t testing.TB) CHCluster {
	t.Helper()
	c := CHCluster{Name: getenv(EnvClickHouseCluster, defaultCluster),
		DSNs: [2]string{getenv(testenv.EnvClickHouseDSN, defaultCH1), getenv(EnvClickHouse2DSN, defaultCH2)}}
	ensure(t, "ClickHouse cluster "+c.Name, func() error {
		var want []string
		for _, dsn := range c.DSNs {
			o, err := clickhouse.ParseDSN(dsn)
			if err != nil {
				return err
			}
			want = append(want, o.Addr...)
		}
		for _, dsn := range c.DSNs {
			if err := probeCH(dsn, c.Name, strings.Join(want, ",")); err != nil {
				return err
			}
		}
		return nil
	})
	return c
}

// probeCH checks that the server at dsn defines cluster as the two servers want lists.
func probeCH(dsn, cluster, want string) error {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return err
	}
	opts.DialTimeout = time.Second
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var got string
	if err := conn.QueryRow(ctx, "SELECT arrayStringConcat(groupArray(addr), ',') FROM (SELECT concat(host_name, ':', toString(port)) AS addr FROM system.clusters WHERE cluster = ? ORDER BY shard_num)", cluster).Scan(&got); err != nil {
		return fmt.Errorf("%s: %w", dsn, err)
	}
	if got != want {
		return fmt.Errorf("%s: cluster %s is [%s], want [%s]", dsn, cluster, got, want)
	}
	return nil
}

// DropOnCleanup drops database db on both servers when t ends.
func (c CHCluster) DropOnCleanup(t testing.TB, db string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, dsn := range c.DSNs {
			opts, _ := clickhouse.ParseDSN(dsn)
			conn, err := clickhouse.Open(opts)
			if err != nil {
				t.Errorf("cannot drop %s on %s: %v", db, dsn, err)
				continue
			}
			if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
				t.Errorf("cannot drop %s on %s: %v", db, dsn, err)
			}
			conn.Close()
		}
	})
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Main is the TestMain of a package whose tests use Binary: it runs the tests, then
// deletes what Binary built.
func Main(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// Binary builds cmd/refedge once per test binary (without the race detector: the
// packages' own tests run under -race, and a race build costs a minute here) and returns
// its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "refedge-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "refedge")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/refedge")
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/refedge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// MigratedDB creates database prefix+random on the cluster, dropped when the test ends,
// applies the product schema across both shards (sink.MigrateCluster), and returns it
// with a connection to it through shard 2, closed when the test ends.
func (c CHCluster) MigratedDB(t testing.TB, prefix string) (string, driver.Conn) {
	t.Helper()
	db := prefix + rand.Text()[:12]
	c.DropOnCleanup(t, db)
	if err := sink.MigrateCluster(t.Context(), c.DSN(0, db), chcluster.Options{Cluster: c.Name}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return db, c.Open(t, 1, db)
}

// Open returns a connection to database db through shard i (0 or 1), closed when the test
// ends.
func (c CHCluster) Open(t testing.TB, i int, db string) driver.Conn {
	t.Helper()
	conn, _, err := sink.OpenClickHouse(t.Context(), c.DSN(i, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
