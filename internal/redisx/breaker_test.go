package redisx

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/internal/testenv"
)

// front is a TCP listener in front of the real Redis: while down it accepts and closes
// every connection at once (a Redis that is restarting); while up it relays bytes.
type front struct {
	ln       net.Listener
	backend  string
	down     atomic.Bool
	accepted atomic.Int64
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
}

// setDown makes the front refuse new connections and cuts the relayed ones.
func (f *front) setDown() {
	f.down.Store(true)
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns = nil
	f.mu.Unlock()
}

func newFront(t *testing.T, backend string) *front {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &front{ln: ln, backend: backend}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *front) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.accepted.Add(1)
		if f.down.Load() {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", f.backend)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		f.conns = append(f.conns, c, b)
		f.mu.Unlock()
		go func() { _, _ = io.Copy(b, c); b.Close() }()
		go func() { _, _ = io.Copy(c, b); c.Close() }()
	}
}

// While Redis is down the breaker opens after the configured failures and later calls
// fail with ErrCircuitOpen without a connection attempt; once Redis is back a probe
// closes the circuit. Redis's own answers (a missing key) never count as failures.
func TestBreakerOpensAndRecovers(t *testing.T) {
	real := testenv.Redis(t)
	f := newFront(t, real.Options().Addr)
	c := redis.NewClient(tuned(&redis.Options{Addr: f.ln.Addr().String(), DB: real.Options().DB, MaxRetries: -1}))
	t.Cleanup(func() { c.Close() })
	b := newBreaker(BreakerConfig{Failures: 3, Open: 200 * time.Millisecond})
	c.AddHook(b)
	ctx := t.Context()

	for i := 0; i < 10; i++ { // answers, even "no such key", keep the circuit closed
		if err := c.Get(ctx, "rfe:test:missing").Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("GET of a missing key through the front: %v", err)
		}
	}
	f.setDown()
	for i := 0; i < 3; i++ {
		if err := c.Ping(ctx).Err(); err == nil || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("ping %d while Redis is down: %v, want a transport error", i, err)
		}
	}
	before := f.accepted.Load()
	for i := 0; i < 20; i++ {
		if err := c.Ping(ctx).Err(); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("ping after 3 failures: %v, want ErrCircuitOpen", err)
		}
		pipe := c.Pipeline()
		pipe.Get(ctx, "a")
		if _, err := pipe.Exec(ctx); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("pipeline after 3 failures: %v, want ErrCircuitOpen", err)
		}
	}
	if n := f.accepted.Load() - before; n != 0 {
		t.Fatalf("%d connection attempts while the circuit was open", n)
	}

	f.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(ctx).Err()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis is back, but pings still fail: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	if err := c.Set(ctx, "rfe:test:k", "v", time.Minute).Err(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestTransportError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{redis.Nil, false},
		{errors.New("WRONGTYPE Operation against a key holding the wrong kind of value"), true}, // not a redis.Error value
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{io.EOF, true},
	} {
		if got := transportError(tc.err); got != tc.want {
			t.Errorf("transportError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
