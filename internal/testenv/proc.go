package testenv

// The one process runner of the tests: a binary a test starts (refedge, a private Redis
// or ClickHouse, nginx, the broker), with its output kept for the failure report, a
// readiness check polled against a deadline, and a stop that escalates to SIGKILL.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// procStartTimeout bounds a start-up by default: ClickHouse 18.16 takes a few
	// seconds on a quiet machine, much longer on a busy one with two cores.
	procStartTimeout = 2 * time.Minute
	// procStopTimeout is how long Stop waits after its signal, by default, before SIGKILL.
	procStopTimeout = time.Minute
	procPoll        = 50 * time.Millisecond
	// procOutputMax bounds the output kept in memory; beyond it the oldest half goes.
	procOutputMax = 8 << 20
	// procReportTail is how much of the output a failure report shows.
	procReportTail = 4000
)

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

// ProcConfig describes a process a test starts.
type ProcConfig struct {
	// Name labels messages ("redis", "refedge-1").
	Name string
	// Path and Args are the command line; Env is added to the test's environment.
	Path string
	Args []string
	Env  []string
	// Dir is the working directory; empty means the test's.
	Dir string
	// Ready, when set, is polled until it returns nil: the process is then ready.
	Ready func(ctx context.Context) error
	// ReadyLine, when set, is given each line the process prints (stdout and stderr)
	// until it returns true: the process is then ready. It runs on the goroutine that
	// copies the output; what it records is visible to the test once Start returns.
	ReadyLine func(line string) bool
	// StartTimeout bounds each start until ready (0: 2 minutes); StopTimeout is how long
	// Stop waits after its signal before SIGKILL (0: 1 minute).
	StartTimeout, StopTimeout time.Duration
}

// Proc is a process a test started. It can be stopped and started again with the same
// command line (so on the same ports and data). It is killed in t.Cleanup if still
// running, and its output is logged there when the test has failed.
type Proc struct {
	cfg ProcConfig
	t   testing.TB

	mu      sync.Mutex
	cmd     *exec.Cmd
	dead    chan struct{} // closed when the current process has exited; exitErr is then set
	exitErr error
	out     []byte // over all starts, the last procOutputMax bytes at most
}

// StartProc starts the process and waits until it is ready (see [Proc.Start]).
func StartProc(t testing.TB, cfg ProcConfig) *Proc {
	t.Helper()
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = procStartTimeout
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = procStopTimeout
	}
	p := &Proc{cfg: cfg, t: t}
	t.Cleanup(func() {
		if _, err := p.stop(syscall.SIGKILL); err != nil {
			t.Logf("testenv: %s: %v", cfg.Name, err)
		}
		if t.Failed() {
			t.Logf("testenv: %s output (tail):\n%s", cfg.Name, p.Tail(procReportTail))
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

// Start starts the process (again) and waits until it is ready: until ReadyLine has
// matched a line and Ready answers nil (either may be unset). It fails the test, with
// the process's output, if the process is already running, exits during start-up or is
// not ready within StartTimeout.
func (p *Proc) Start() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("testenv: %s is already running", p.cfg.Name)
	}
	w := &procWriter{p: p, match: p.cfg.ReadyLine, matched: make(chan struct{})}
	if w.match == nil {
		close(w.matched)
	}
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.Dir = p.cfg.Dir
	cmd.Stdout, cmd.Stderr = w, w
	// A child that leaves a grandchild holding its output must not hang Wait.
	cmd.WaitDelay = 5 * time.Second
	// Its own process group: a Ctrl-C aimed at `go test` does not reach it first, and
	// the test decides how it stops.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: cannot start %s: %v", p.cfg.Name, err)
	}
	dead := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.dead, p.exitErr = cmd, dead, nil
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(dead)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout)
	defer cancel()
	last := p.waitReady(ctx, w.matched, dead)
	if last == nil {
		return
	}
	select {
	case <-dead:
		p.t.Fatalf("testenv: %s exited during start-up (%v; %v); output:\n%s", p.cfg.Name, p.ExitErr(), last, p.Tail(procReportTail))
	default:
		p.t.Fatalf("testenv: %s not ready after %v (%v); output:\n%s", p.cfg.Name, p.cfg.StartTimeout, last, p.Tail(procReportTail))
	}
}

// waitReady waits for the ready line, then polls Ready, until the process exits or ctx
// ends; it returns nil once the process is ready, else why it is not.
func (p *Proc) waitReady(ctx context.Context, matched, dead <-chan struct{}) error {
	select {
	case <-matched:
	case <-dead:
		return errors.New("no ready line")
	case <-ctx.Done():
		return errors.New("no ready line")
	}
	if p.cfg.Ready == nil {
		return nil
	}
	for {
		err := p.cfg.Ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-dead:
			return err
		case <-ctx.Done():
			return err
		case <-time.After(procPoll):
		}
	}
}

// Stop sends sig (syscall.SIGTERM or syscall.SIGKILL) and waits until the process has
// exited; after StopTimeout it sends SIGKILL and fails the test. It returns how the
// process ended (nil for exit status 0; an *exec.ExitError otherwise). Stopping a
// stopped process returns how it ended.
func (p *Proc) Stop(sig syscall.Signal) error {
	p.t.Helper()
	exit, err := p.stop(sig)
	if err != nil {
		p.t.Errorf("testenv: %s: %v; output (tail):\n%s", p.cfg.Name, err, p.Tail(procReportTail))
	}
	return exit
}

func (p *Proc) stop(sig syscall.Signal) (exit, err error) {
	p.mu.Lock()
	cmd, dead := p.cmd, p.dead
	p.mu.Unlock()
	if cmd == nil {
		return nil, nil
	}
	select {
	case <-dead:
		return p.ExitErr(), nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, fmt.Errorf("cannot send %v: %w", sig, err)
	}
	timer := time.NewTimer(p.cfg.StopTimeout)
	defer timer.Stop()
	select {
	case <-dead:
		return p.ExitErr(), nil
	case <-timer.C:
	}
	_ = cmd.Process.Kill()
	<-dead
	return p.ExitErr(), fmt.Errorf("still running %v after %v; killed", p.cfg.StopTimeout, sig)
}

// Restart stops the process with sig and starts it again.
func (p *Proc) Restart(sig syscall.Signal) {
	p.t.Helper()
	p.Stop(sig)
	p.Start()
}

// ExitErr returns how the last run ended (nil while it runs or after exit status 0).
func (p *Proc) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
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

// Output returns what the process printed, over all its starts (the last 8 MiB).
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// Tail returns the last n bytes of Output.
func (p *Proc) Tail(n int) string {
	s := p.Output()
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// procWriter keeps a run's output in its Proc and hands complete lines to match until
// it returns true.
type procWriter struct {
	p       *Proc
	match   func(string) bool
	matched chan struct{}
	line    []byte // the incomplete last line, while matching
}

func (w *procWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	w.p.out = append(w.p.out, b...)
	if len(w.p.out) > procOutputMax {
		w.p.out = append(w.p.out[:0], w.p.out[len(w.p.out)-procOutputMax/2:]...)
	}
	w.p.mu.Unlock()
	if w.match == nil {
		return len(b), nil
	}
	w.line = append(w.line, b...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		line := string(w.line[:i])
		w.line = w.line[i+1:]
		if w.match(line) {
			w.match, w.line = nil, nil
			close(w.matched)
			break
		}
	}
	return len(b), nil
}

// HTTPReady is a [ProcConfig.Ready] that wants url to answer 200.
func HTTPReady(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}
