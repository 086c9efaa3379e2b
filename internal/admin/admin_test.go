package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Test-only routes: open, so the body tests exercise bodies, not credentials.
func init() {
	routeRoles["PUT /x"] = RoleOpen
	routeRoles["PUT /slow"] = RoleOpen
}

func newTestServer(t *testing.T, s *Server) *httptest.Server {
	t.Helper()
	// ReadHeaderTimeout as in serve.go; no ReadTimeout, so bodies are bounded only by
	// Server.BodyTimeout.
	ts := httptest.NewUnstartedServer(s)
	ts.Config.ReadHeaderTimeout = 5 * time.Second
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// TestProfilerOneAtATime: a second CPU profile or trace while one runs is refused with
// 409, not net/http/pprof's 500, and the next one after it works.
func TestProfilerOneAtATime(t *testing.T) {
	s := New(slog.Default())
	s.SetCredentials(testCreds)
	ts := newTestServer(t, s)
	get := func(ctx context.Context, path string) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+testCreds[0].Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	for _, c := range []struct{ path, long, short string }{
		{"/debug/pprof/trace", "?seconds=30", "?seconds=0.01"},
		{"/debug/pprof/profile", "?seconds=30", "?seconds=1"},
	} {
		// Two long ones at once: one runs until cancelled, the other is refused.
		ctx, cancel := context.WithCancel(context.Background())
		codes := make(chan int, 2)
		for range 2 {
			go func() {
				code, err := get(ctx, c.path+c.long)
				if err != nil {
					code = -1 // cancelled
				}
				codes <- code
			}()
		}
		select {
		case code := <-codes:
			if code != http.StatusConflict {
				t.Fatalf("%s while another runs: %d, want 409", c.path, code)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: neither of two concurrent requests was refused", c.path)
		}
		cancel()
		<-codes
		// The running one ends with its client; then a new one runs.
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, err := get(context.Background(), c.path+c.short)
			if err != nil {
				t.Fatal(err)
			}
			if code == http.StatusOK {
				break
			}
			if code != http.StatusConflict || time.Now().After(deadline) {
				t.Fatalf("%s after the first ended: %d, want 200", c.path, code)
			}
		}
	}
}

// TestSlowBodyIsCutOff: a client that sends a body a byte at a time (or stops) gets
// 408 and loses the connection after BodyTimeout.
func TestSlowBodyIsCutOff(t *testing.T) {
	s := New(slog.Default())
	s.BodyTimeout = 200 * time.Millisecond
	s.Handle("PUT /x", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if DecodeJSON(w, r, &v) {
			WriteJSON(w, http.StatusOK, v)
		}
	})
	ts := newTestServer(t, s)
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body within 5s (BodyTimeout 200ms): %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: %d, want 408", resp.StatusCode)
	}
	t.Logf("stalled body answered after %s", time.Since(start).Round(time.Millisecond))
}

// TestBodyDeadlineEndsWithBody: a handler that keeps working after reading its body is
// not cancelled by the body's deadline.
func TestBodyDeadlineEndsWithBody(t *testing.T) {
	s := New(slog.Default())
	s.BodyTimeout = 100 * time.Millisecond
	s.Handle("PUT /slow", func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if !DecodeJSON(w, r, &v) {
			return
		}
		select {
		case <-r.Context().Done():
			Error(w, http.StatusServiceUnavailable, "cancelled: "+context.Cause(r.Context()).Error())
		case <-time.After(4 * s.BodyTimeout):
			WriteJSON(w, http.StatusOK, v)
		}
	})
	ts := newTestServer(t, s)
	req, _ := http.NewRequest(http.MethodPut, ts.URL+"/slow", strings.NewReader(`{"a":1}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("handler working past BodyTimeout after reading: %d %s", resp.StatusCode, body)
	}
}

// TestReadiness: a failing dependency is reported but keeps the process ready (it
// serves degraded); a failing own check, draining, or strict mode with a dependency
// down make /readyz answer 503.
func TestReadiness(t *testing.T) {
	s := New(slog.Default())
	var spoolErr, redisErr atomic.Value
	spoolErr.Store(errBox{})
	redisErr.Store(errBox{})
	s.AddCheck("spool", func(context.Context) error { return spoolErr.Load().(errBox).err })
	s.AddDependency("redis", func(context.Context) error { return redisErr.Load().(errBox).err })
	ts := newTestServer(t, s)
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	if code, body := get("/readyz"); code != 200 || body["degraded"] != false {
		t.Fatalf("all ok: %d %v", code, body)
	}
	redisErr.Store(errBox{errors.New("connection refused")})
	code, body := get("/readyz")
	if code != 200 || body["degraded"] != true || body["dependencies"].(map[string]any)["redis"] != "down: connection refused" {
		t.Fatalf("Redis down: %d %v, want 200 and the dependency reported down", code, body)
	}
	if code, _ := get("/readyz?strict=1"); code != 503 {
		t.Fatalf("Redis down, strict: %d, want 503", code)
	}
	redisErr.Store(errBox{})
	spoolErr.Store(errBox{errors.New("full")})
	if code, body := get("/readyz"); code != 503 || body["checks"].(map[string]any)["spool"] != "down: full" {
		t.Fatalf("own check failing: %d %v, want 503", code, body)
	}
	spoolErr.Store(errBox{})
	s.SetDraining()
	if code, body := get("/readyz"); code != 503 || body["draining"] != true {
		t.Fatalf("draining: %d %v, want 503", code, body)
	}
}

type errBox struct{ err error }
