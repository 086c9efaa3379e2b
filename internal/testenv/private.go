package testenv

// Private servers: a Redis or ClickHouse process of the test's own, on its own loopback
// port and temporary data folder, that the test may stop (SIGTERM or SIGKILL) and start
// again on the same port and data — fault-injection tests do that while the shared
// servers of deploy/dev/services.sh keep serving every other test. The binaries are
// found the way services.sh finds them (on PATH, plus the Debian sbin folders), and
// the generated configs follow services.sh's. A missing binary fails the test under
// CI=true and skips it otherwise ([Required]).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/deploy/dev/chconf"
)

const (
	// privateStartTimeout bounds a private server's start-up: ClickHouse 18.16 takes a
	// few seconds on a quiet machine, much longer on a busy one with two cores.
	privateStartTimeout = 2 * time.Minute
	// privateStopTimeout is how long Stop waits after its signal before SIGKILL.
	privateStopTimeout = time.Minute
	privatePoll        = 50 * time.Millisecond
)

// InstallHint tells a developer how to get the server binaries.
const InstallHint = "run `deploy/dev/services.sh install`"

// FindBinary returns the path of a server binary: on PATH, else in /usr/sbin, /usr/bin
// or /sbin (clickhouse-server lives in /usr/sbin, which a non-root PATH may lack). It
// fails the test under CI=true, and skips it otherwise, when the binary is missing.
func FindBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	Required(t, name+" (not on PATH nor in /usr/sbin)", InstallHint)
	return ""
}

// FreeAddr returns a loopback host:port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: no free loopback port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ProcConfig describes a server process a test owns.
type ProcConfig struct {
	// Name labels messages ("redis", "clickhouse", "kafka-dev").
	Name string
	// Path and Args are the command line; Env is added to the test's environment.
	Path string
	Args []string
	Env  []string
	// Dir receives the process's output (Name.log), kept across restarts.
	Dir string
	// Ready reports whether the server answers; Start polls it until it returns nil.
	Ready func(ctx context.Context) error
}

// Proc is a server process that can be stopped and started again with the same
// command line, so on the same port and data folder. It is stopped in t.Cleanup.
type Proc struct {
	cfg ProcConfig
	t   testing.TB

	mu     sync.Mutex
	cmd    *exec.Cmd
	dead   chan struct{} // closed when the current process has exited
	starts int
}

// StartProc starts the process and waits until cfg.Ready answers.
func StartProc(t testing.TB, cfg ProcConfig) *Proc {
	t.Helper()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p := &Proc{cfg: cfg, t: t}
	t.Cleanup(func() {
		if err := p.stop(syscall.SIGKILL); err != nil {
			t.Logf("testenv: %s: %v", cfg.Name, err)
		}
		if t.Failed() {
			t.Logf("testenv: %s output (tail):\n%s", cfg.Name, p.LogTail(3000))
		}
	})
	p.Start()
	return p
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead == nil {
		return false
	}
	select {
	case <-p.dead:
		return false
	default:
		return true
	}
}

// Start starts the process (again) and waits until it is ready. It fails the test if
// the process is already running, exits during start-up or is not ready in time.
func (p *Proc) Start() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("testenv: %s is already running", p.cfg.Name)
	}
	out, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.Dir = p.cfg.Dir
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a Ctrl-C aimed at `go test` does not reach it first, and
	// the test decides how it stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		p.t.Fatalf("testenv: cannot start %s: %v", p.cfg.Name, err)
	}
	dead := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(dead)
	}()
	p.mu.Lock()
	p.cmd, p.dead = cmd, dead
	p.starts++
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), privateStartTimeout)
	defer cancel()
	var last error
	for {
		if last = p.cfg.Ready(ctx); last == nil {
			return
		}
		select {
		case <-dead:
			p.t.Fatalf("testenv: %s exited during start-up (%v); output:\n%s", p.cfg.Name, last, p.LogTail(3000))
		case <-ctx.Done():
			p.t.Fatalf("testenv: %s not ready after %v (%v); output:\n%s", p.cfg.Name, privateStartTimeout, last, p.LogTail(3000))
		case <-time.After(privatePoll):
		}
	}
}

// Stop sends sig (syscall.SIGTERM or syscall.SIGKILL) and waits until the process has
// exited; after a minute it sends SIGKILL. Stopping a stopped process does nothing.
func (p *Proc) Stop(sig syscall.Signal) {
	p.t.Helper()
	if err := p.stop(sig); err != nil {
		p.t.Fatalf("testenv: %s: %v", p.cfg.Name, err)
	}
}

func (p *Proc) stop(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, dead := p.cmd, p.dead
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-dead:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("cannot send %v: %w", sig, err)
	}
	select {
	case <-dead:
		return nil
	case <-time.After(privateStopTimeout):
	}
	_ = cmd.Process.Kill()
	<-dead
	return fmt.Errorf("still running %v after %v; killed", privateStopTimeout, sig)
}

// Restart stops the process with sig and starts it again.
func (p *Proc) Restart(sig syscall.Signal) {
	p.t.Helper()
	p.Stop(sig)
	p.Start()
}

// Pid returns the current process id (0 before the first start).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *Proc) logPath() string { return filepath.Join(p.cfg.Dir, p.cfg.Name+".log") }

// LogTail returns the last n bytes the process printed, over all its starts.
func (p *Proc) LogTail(n int) string {
	b, _ := os.ReadFile(p.logPath())
	if len(b) > n {
		b = append([]byte("…"), b[len(b)-n:]...)
	}
	return string(b)
}

// ---------------------------------------------------------------- Redis

// PrivateRedis is a redis-server of the test's own.
type PrivateRedis struct {
	*Proc
	// Addr is host:port; it stays the same across restarts.
	Addr string
}

// URL returns redis://Addr/db.
func (r *PrivateRedis) URL(db int) string { return "redis://" + r.Addr + "/" + strconv.Itoa(db) }

// StartRedis starts a private redis-server on a free loopback port with its data in a
// temporary folder. Its append-only file is synced every second, so a SIGKILL loses at
// most the last second of writes and a restart finds the rest.
func StartRedis(t testing.TB) *PrivateRedis {
	t.Helper()
	bin := FindBinary(t, "redis-server")
	dir := t.TempDir()
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`# Generated by internal/testenv (after deploy/dev/services.sh).
bind 127.0.0.1
port %s
protected-mode yes
daemonize no
supervised no
dir %s
logfile ""
loglevel notice
save ""
appendonly yes
appendfsync everysec
databases 16
`, port, dir)
	if err := os.WriteFile(filepath.Join(dir, "redis.conf"), []byte(conf), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ready := func(ctx context.Context) error {
		c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: probeTimeout, ReadTimeout: probeTimeout, MaxRetries: -1})
		defer c.Close()
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return c.Ping(pctx).Err()
	}
	p := StartProc(t, ProcConfig{Name: "redis", Path: bin, Args: []string{filepath.Join(dir, "redis.conf")}, Dir: dir, Ready: ready})
	return &PrivateRedis{Proc: p, Addr: addr}
}

// ---------------------------------------------------------------- ClickHouse

// PrivateClickHouse is a clickhouse-server of the test's own.
type PrivateClickHouse struct {
	*Proc
	// Addr is the native protocol's host:port; it stays the same across restarts.
	Addr string
}

// DSN returns the native DSN of database db on this server.
func (c *PrivateClickHouse) DSN(db string) string { return "clickhouse://" + c.Addr + "/" + db }

// StartClickHouse starts a private clickhouse-server on free loopback ports (native and
// HTTP) with its data in a temporary folder, configured like services.sh's server.
// It runs as the current user (ClickHouse 18.16 accepts root).
func StartClickHouse(t testing.TB) *PrivateClickHouse {
	t.Helper()
	bin := FindBinary(t, "clickhouse-server")
	dir := t.TempDir()
	addr, httpAddr := FreeAddr(t), FreeAddr(t)
	_, tcpPort, _ := net.SplitHostPort(addr)
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	config, users := chconf.Render(dir, "127.0.0.1", tcpPort, httpPort)
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(config), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(users), 0o644); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ready := func(ctx context.Context) error {
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: probeTimeout})
		if err != nil {
			return err
		}
		defer conn.Close()
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		return conn.Ping(pctx)
	}
	p := StartProc(t, ProcConfig{Name: "clickhouse", Path: bin, Args: []string{"--config-file=" + filepath.Join(dir, "config.xml")},
		Dir: dir, Ready: ready})
	return &PrivateClickHouse{Proc: p, Addr: addr}
}
