package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/admin"
	"github.com/refedge/refedge/internal/admin/admintest"
)

// rawCase is one malformed HTTP exchange over raw TCP.
type rawCase struct {
	name string
	// req is the bytes sent; "{host}" is the listener's address, "{post}" a path that
	// takes a POST body on that listener, "{A}" partner A.
	req string
	// onlyPublic / onlyAdmin restrict the case to one listener.
	onlyPublic, onlyAdmin bool
	// mayWait: the request is incomplete, so a server waiting for the rest is right;
	// our read timing out is then not a failure (slowloris checks that waits end).
	mayWait bool
	// pipelined: more than one response is expected.
	pipelined bool
	// adminAllows is a 5xx the admin listener may answer: net/http (not refedge) sends
	// the status RFC 9110 defines for the case before any handler runs, and serve.go
	// cannot change that. The public listener has no such exception.
	adminAllows int
}

const (
	publicHeaderLimit = 8 << 10 // serve.go: ReadBufferSize
	adminHeaderLimit  = 1 << 20 // net/http DefaultMaxHeaderBytes
	publicBodyLimit   = 1 << 20 // serve.go: MaxRequestBodySize
)

func rawCases() []rawCase {
	manyHeaders := strings.Repeat("X-Hx-Many: v\r\n", 5000)
	return []rawCase{
		{name: "tls-client-hello", req: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + strings.Repeat("\x00", 64), mayWait: true},
		{name: "garbage", req: "\x00\x01\x02garbage\xff\r\n\r\n"},
		{name: "empty-lines", req: "\r\n\r\n\r\n\r\n", mayWait: true},
		{name: "http09", req: "GET /\r\n", mayWait: true},
		{name: "http09-complete", req: "GET /\r\n\r\n"},
		{name: "http10-no-host", req: "GET /x?ref={A} HTTP/1.0\r\n\r\n"},
		{name: "http11-no-host", req: "GET /x?ref={A} HTTP/1.1\r\nConnection: close\r\n\r\n"},
		{name: "bad-version", req: "GET / HTTP/9.9\r\nHost: {host}\r\nConnection: close\r\n\r\n", adminAllows: 505}, // RFC 9110 15.6.6
		{name: "bad-protocol", req: "GET / HTTQ/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "extra-request-line-field", req: "GET / HTTP/1.1 extra\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "bad-method", req: "FOO /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "lowercase-method", req: "get /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "nul-in-method", req: "G\x00T / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "long-method", req: strings.Repeat("A", 5000) + " / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "connect", req: "CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\nConnection: close\r\n\r\n"},
		{name: "trace", req: "TRACE /?ref={A} HTTP/1.1\r\nHost: {host}\r\nX-Hx: <script>hx7331()</script>\r\nConnection: close\r\n\r\n"},
		{name: "options-star", req: "OPTIONS * HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "absolute-form-other-host", req: "GET http://evil.test/x?ref={A} HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n"},
		{name: "scheme-relative-target", req: "GET //evil.test/x?ref={A} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "backslash-target", req: "GET /\\evil.test/x?ref={A} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "encoded-slashes-target", req: "GET /%2f%2fevil.test/%5cx?ref={A} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "raw-bad-utf8-target", req: "GET /\xff\xfe/\xc0\xaf?ref=\xff&sub=\x00 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "space-in-target", req: "GET /a b?ref={A} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "long-target", req: "GET /" + strings.Repeat("a", 20000) + "?ref={A} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"},
		{name: "duplicate-content-length", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}x"},
		{name: "te-and-cl", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"},
		{name: "smuggle-cl-te", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 52\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/v1/creatives HTTP/1.1\r\nHost: {host}\r\n\r\n", pipelined: true, mayWait: true},
		{name: "smuggle-te-obfuscated", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 4\r\nTransfer-Encoding : chunked\r\nConnection: close\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n", pipelined: true, mayWait: true},
		{name: "invalid-chunk-size", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{name: "chunk-size-overflow", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"},
		{name: "chunk-missing-crlf", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"},
		{name: "chunk-huge-extension", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2;" + strings.Repeat("e", 20000) + "\r\n{}\r\n0\r\n\r\n", mayWait: true},
		{name: "chunked-no-last-chunk", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n", mayWait: true},
		{name: "unknown-transfer-encoding", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n", adminAllows: 501}, // RFC 9112 6.1
		{name: "transfer-encoding-xchunked", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: xchunked\r\nConnection: close\r\n\r\n0\r\n\r\n", adminAllows: 501},
		{name: "negative-content-length", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}"},
		{name: "non-numeric-content-length", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}"},
		{name: "huge-content-length", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}"},
		{name: "truncated-body", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\nConnection: close\r\n\r\nabc", mayWait: true},
		{name: "expect-continue-no-body", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nExpect: 100-continue\r\nContent-Length: 10\r\nConnection: close\r\n\r\n", mayWait: true},
		{name: "header-without-colon", req: "GET /v.js HTTP/1.1\r\nHost: {host}\r\nBadHeaderLine\r\nConnection: close\r\n\r\n"},
		{name: "space-before-colon", req: "GET /v.js HTTP/1.1\r\nHost : {host}\r\nX-A : b\r\nConnection: close\r\n\r\n"},
		{name: "nul-in-header-name", req: "GET /v.js HTTP/1.1\r\nHost: {host}\r\nX-\x00: b\r\nConnection: close\r\n\r\n"},
		{name: "nul-in-header-value", req: "GET /?ref={A} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: a\x00b\r\nConnection: close\r\n\r\n"},
		{name: "obs-fold", req: "GET /?ref={A} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0\r\n " + injectedHeader + ": 1\r\nConnection: close\r\n\r\n"},
		{name: "bare-lf", req: "GET /?ref={A} HTTP/1.1\nHost: {host}\nConnection: close\n\n", mayWait: true},
		{name: "bare-cr", req: "GET /?ref={A} HTTP/1.1\rHost: {host}\rConnection: close\r\r\n\r\n", mayWait: true},
		{name: "duplicate-host", req: "GET /?ref={A} HTTP/1.1\r\nHost: {host}\r\nHost: evil.test\r\nConnection: close\r\n\r\n"},
		{name: "homoglyph-host", req: "GET /?ref={A} HTTP/1.1\r\nHost: mаrket.example\r\nConnection: close\r\n\r\n"},
		{name: "header-over-public-limit", req: "GET /?ref={A} HTTP/1.1\r\nHost: {host}\r\nX-Big: " + strings.Repeat("b", 2*publicHeaderLimit) + "\r\nConnection: close\r\n\r\n"},
		{name: "header-over-admin-limit", onlyAdmin: true, req: "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Big: " + strings.Repeat("b", adminHeaderLimit+8192) + "\r\nConnection: close\r\n\r\n"},
		{name: "thousands-of-headers", req: "GET /?ref={A} HTTP/1.1\r\nHost: {host}\r\n" + manyHeaders + "Connection: close\r\n\r\n"},
		{name: "huge-cookie", req: "GET /?ref={A} HTTP/1.1\r\nHost: {host}\r\nCookie: rfe_vid=" + strings.Repeat("c", 64<<10) + "\r\nConnection: close\r\n\r\n"},
		{name: "many-cookies", req: "GET /partner HTTP/1.1\r\nHost: {host}\r\nCookie: " + strings.Repeat("rfe_ps=x; ", 700) + "\r\nConnection: close\r\n\r\n"},
		{name: "body-over-limit", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(2*publicBodyLimit) + "\r\nConnection: close\r\n\r\n" + strings.Repeat("x", 2*publicBodyLimit)},
		{name: "chunked-body-over-limit", req: "POST {post} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, strings.Repeat("x", 64<<10)), 2*publicBodyLimit/(64<<10)) + "0\r\n\r\n"},
		{name: "pipelined-then-garbage", req: "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\nGET /v.js HTTP/1.1\r\nHost: {host}\r\n\r\n\x00GARBAGE\r\n\r\n", pipelined: true, mayWait: true},
		{name: "h2-preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", mayWait: true},
		{name: "h2c-upgrade", req: "GET /v.js HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"},
		{name: "websocket-upgrade", req: "GET /w/builder HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	}
}

// hostileMalformedHTTP sends every raw case to both listeners: whatever the server
// makes of it, it answers below 500 or closes the connection.
func hostileMalformedHTTP(t *testing.T, fx *hfixture) {
	t.Helper()
	type target struct {
		name, addr, post string
		admin            bool
	}
	start := time.Now()
	targets := []target{{"public", fx.public, "/v", false}, {"admin", fx.admin, "/admin/v1/classify", true}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	n := 0
	sem := make(chan struct{}, 4)
	for _, tg := range targets {
		for _, c := range rawCases() {
			if c.onlyAdmin && !tg.admin || c.onlyPublic && tg.admin {
				continue
			}
			n++
			req := strings.NewReplacer("{host}", tg.addr, "{post}", tg.post, "{A}", fx.vals["A"]).Replace(c.req)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				timeout := 5 * time.Second
				if c.mayWait {
					timeout = 2 * time.Second
				}
				if fx.dead.Load() {
					return
				}
				res := rawExchange(tg.addr, []byte(req), "GET", timeout)
				if fx.gone(res.err) {
					return
				}
				var bad []string
				// A server waiting for the rest of an incomplete request, or keeping the
				// connection open after a complete answer, is right; slowloris checks
				// that such waits end.
				waited := isTimeout(res.err) && (c.mayWait || len(res.resps) > 0)
				if res.err != nil && !waited {
					bad = append(bad, fmt.Sprintf("exchange: %v (trailing %q)", res.err, clip(res.trail, 200)))
				}
				if len(res.trail) > 0 && !c.pipelined {
					bad = append(bad, fmt.Sprintf("bytes after the response: %q", clip(res.trail, 200)))
				}
				if len(res.resps) > 1 && !c.pipelined {
					bad = append(bad, fmt.Sprintf("%d responses", len(res.resps)))
				}
				var allow []int
				if tg.admin && c.adminAllows != 0 {
					allow = append(allow, c.adminAllows)
				}
				for _, r := range res.resps {
					bad = append(bad, checkResponse(r, allow...)...)
				}
				mu.Lock()
				for _, b := range bad {
					failures = append(failures, fmt.Sprintf("malformed HTTP %s to %s listener: %s", c.name, tg.name, b))
				}
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	t.Logf("malformed HTTP: %d exchanges in %s", n, time.Since(start).Round(time.Millisecond))
	if len(failures) > 0 {
		t.Errorf("%d malformed-HTTP failures:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}

// hostileSlowloris opens connections that send their request a byte at a time and
// checks that each listener closes them within its read timeout (public: fasthttp
// ReadTimeout 10 s, the whole request; admin: ReadHeaderTimeout 5 s for headers and
// admin.Server.BodyTimeout for a body).
func hostileSlowloris(t *testing.T, fx *hfixture) {
	type slow struct {
		name, addr, head, drip string
		limit                  time.Duration
	}
	cases := []slow{
		{"public headers", fx.public, "GET /?ref=" + fx.vals["A"] + " HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + strings.Repeat("a", 200), 10 * time.Second},
		{"public body", fx.public, "POST /v HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n", strings.Repeat("b", 400), 10 * time.Second},
		{"public idle", fx.public, "", "", 10 * time.Second},
		{"admin headers", fx.admin, "GET /healthz HTTP/1.1\r\nHost: x\r\n", "X-Slow: " + strings.Repeat("a", 200), 5 * time.Second},
		{"admin body", fx.admin, "PUT /admin/v1/partners/slow HTTP/1.1\r\nHost: x\r\nAuthorization: " + admintest.Bearer(admintest.AdminSecret) + "\r\nContent-Length: 400\r\n\r\n", strings.Repeat("b", 400), admin.DefaultBodyTimeout},
		{"admin idle", fx.admin, "", "", 10 * time.Second},
	}
	var wg sync.WaitGroup
	for _, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			elapsed, err := slowClient(c.addr, c.head, c.drip, c.limit+5*time.Second)
			if fx.gone(err) || fx.dead.Load() {
				return
			}
			if err != nil {
				t.Errorf("slowloris %s: %v", c.name, err)
				return
			}
			t.Logf("slowloris %s: closed after %s (limit %s)", c.name, elapsed.Round(100*time.Millisecond), c.limit)
		}()
	}
	wg.Wait()
}

// slowClient sends head, then drip one byte every 250 ms, until the server closes the
// connection; it fails when the server has not closed it by deadline.
func slowClient(addr, head, drip string, deadline time.Duration) (time.Duration, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(conn) // returns when the server closes (or resets) it
		closed <- b
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, err
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	limit := time.NewTimer(deadline)
	defer limit.Stop()
	for i := 0; ; i++ {
		select {
		case b := <-closed:
			if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 4") {
				return 0, fmt.Errorf("closed with %q", clip(b, 200))
			}
			return time.Since(start), nil
		case <-limit.C:
			return 0, fmt.Errorf("the server still held the connection after %s", deadline)
		case <-tick.C:
			if len(drip) > 0 {
				// A write error means the server is gone: the read side reports it.
				_, _ = conn.Write([]byte{drip[i%len(drip)]})
			}
		}
	}
}
