package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envChild makes the test binary act as the child process of the runner's tests:
// "serve" answers HTTP and prints its URL, exiting 0 on SIGTERM; "exit" prints and
// exits 3 at once; "silent" prints nothing and waits; "deaf" prints a ready line and
// ignores SIGTERM.
const envChild = "REFEDGE_TESTENV_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChild); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

func child(mode string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	switch mode {
	case "serve":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") }))
		fmt.Println("starting up")
		fmt.Fprintf(os.Stderr, "ready http://%s\n", ln.Addr())
		<-ctx.Done()
		fmt.Println("stopping on SIGTERM")
		return 0
	case "exit":
		fmt.Fprintln(os.Stderr, "boom: cannot start")
		return 3
	case "silent":
		<-ctx.Done()
		return 0
	case "deaf":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour) // only SIGKILL ends it
	}
	return 2
}

func childConfig(t *testing.T, mode string) ProcConfig {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return ProcConfig{Name: "child-" + mode, Path: exe, Env: []string{envChild + "=" + mode}}
}

// A ready line found among others gives the test what it carries; Ready is polled after
// it; SIGTERM ends the process cleanly and its output is kept.
func TestProcReadyLineAndStop(t *testing.T) {
	t.Parallel()
	cfg := childConfig(t, "serve")
	var url string
	cfg.ReadyLine = func(line string) bool {
		u, ok := strings.CutPrefix(line, "ready ")
		url = u
		return ok
	}
	polls := 0
	cfg.Ready = func(ctx context.Context) error {
		polls++
		return HTTPReady(url + "/")(ctx)
	}
	p := StartProc(t, cfg)
	if polls == 0 || !p.Running() {
		t.Fatalf("Ready polled %d times, running %v", polls, p.Running())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Fatalf("child answered %q", body)
	}
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want a clean exit", err)
	}
	if p.Running() {
		t.Fatal("running after Stop")
	}
	if out := p.Output(); !strings.Contains(out, "starting up") || !strings.Contains(out, "stopping on SIGTERM") {
		t.Fatalf("output lacks the child's lines:\n%s", out)
	}
	pid := p.Pid()
	p.Start()
	if p.Pid() == pid || !p.Running() {
		t.Fatalf("after a restart pid %d (was %d), running %v", p.Pid(), pid, p.Running())
	}
}

// recTB records what the runner reports instead of failing the test; Fatalf ends the
// goroutine as testing's does.
type recTB struct {
	testing.TB
	mu       sync.Mutex
	msgs     []string
	cleanups []func()
}

func (r *recTB) Helper()             {}
func (r *recTB) Logf(string, ...any) {}
func (r *recTB) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *recTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recTB) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recTB) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs) > 0
}

// reports runs f on a recTB and its cleanups, and returns what was reported.
func reports(t *testing.T, f func(tb testing.TB)) string {
	r := &recTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	return strings.Join(r.msgs, "\n")
}

func TestProcStartFailures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mode string
		want []string
	}{
		{"exit", []string{"exited during start-up", "exit status 3", "boom: cannot start"}},
		{"silent", []string{"not ready after 300ms", "no ready line"}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			cfg := childConfig(t, c.mode)
			cfg.ReadyLine = func(line string) bool { return line == "ready" }
			cfg.StartTimeout = 300 * time.Millisecond
			got := reports(t, func(tb testing.TB) {
				StartProc(tb, cfg)
				tb.Errorf("StartProc returned")
			})
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("report lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// A process that ignores SIGTERM is killed after StopTimeout, and the test is told.
func TestProcStopEscalates(t *testing.T) {
	t.Parallel()
	cfg := childConfig(t, "deaf")
	cfg.ReadyLine = func(line string) bool { return line == "ready" }
	cfg.StopTimeout = 300 * time.Millisecond
	var exit error
	var p *Proc
	got := reports(t, func(tb testing.TB) {
		p = StartProc(tb, cfg)
		exit = p.Stop(syscall.SIGTERM)
	})
	if !strings.Contains(got, "still running 300ms after terminated; killed") {
		t.Errorf("report: %q", got)
	}
	if exit == nil || !strings.Contains(exit.Error(), "killed") {
		t.Errorf("exit: %v, want killed", exit)
	}
	if p.Running() {
		t.Error("still running")
	}
}
