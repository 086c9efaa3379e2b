package main

// The hostile-input suite's client: it writes request bytes exactly as built (Go's
// net/http client refuses most of what the suite needs to send: control bytes, invalid
// UTF-8, raw CR/LF, duplicate framing headers) and parses what comes back with
// net/http's response reader, then checks every response against the suite's rules.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// rawResult is what the server sent for one request: zero or more responses, and how the
// exchange ended.
type rawResult struct {
	resps  []*rawResponse
	closed bool  // the server closed the connection (or it was reset)
	err    error // the first error that was not the server closing (e.g. our timeout)
	trail  []byte
}

// rawResponse is one parsed response with its whole body.
type rawResponse struct {
	*http.Response
	body []byte
}

// rawExchange dials addr, writes req, and reads responses until the server closes the
// connection or timeout passes. method tells the parser whether a body follows (HEAD).
// Requests carry "Connection: close", so one connection is one exchange and a response
// can never be taken for another request's.
func rawExchange(addr string, req []byte, method string, timeout time.Duration) rawResult {
	var res rawResult
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		res.err = fmt.Errorf("dial: %w", err)
		return res
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	// Write in the background: the server may answer (413, 431) and close before it has
	// read everything, and a blocked write must not hide that answer.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(req)
		werr <- err
	}()
	br := bufio.NewReaderSize(conn, 64<<10)
	for {
		if _, err := br.Peek(1); err != nil {
			res.closed = isClosed(err)
			if !res.closed {
				res.err = err
			}
			break
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			res.trail, _ = io.ReadAll(io.LimitReader(br, 4096))
			res.err = fmt.Errorf("unparseable response: %w", err)
			break
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
		resp.Body.Close()
		res.resps = append(res.resps, &rawResponse{Response: resp, body: body})
		if err != nil {
			res.closed = isClosed(err)
			if !res.closed {
				res.err = fmt.Errorf("reading body: %w", err)
			}
			break
		}
		if resp.StatusCode >= 200 && resp.Close {
			// The server said it closes; a response after this would be a smuggled
			// one. (Other bytes are the body of an error answer to a HEAD request:
			// the server could not parse the request, so it did not know it was HEAD.)
			rest, _ := io.ReadAll(io.LimitReader(br, 4096))
			if bytes.Contains(rest, []byte("HTTP/1.")) {
				res.trail = rest
			}
			res.closed = true
			break
		}
	}
	_ = conn.Close()
	<-werr
	return res
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset by peer") || strings.Contains(err.Error(), "broken pipe")
}

// hostileOrigin is REFEDGE_MARKET_ORIGIN in startStack: the only redirect target.
const hostileOrigin = "https://market.example"

// The payloads carry these sentinels; a response that carries them unescaped failed.
const (
	sentinel       = "hx7331"
	injectedHeader = "X-Hx-Injected"
	injectedCookie = "hxinj"
)

// checkResponse returns what is wrong with resp under the suite's rules (nil: nothing).
// allow5xx names statuses ≥ 500 the caller accepts (none in the sweep).
func checkResponse(resp *rawResponse, allow5xx ...int) []string {
	var bad []string
	if resp.StatusCode >= 500 {
		ok := false
		for _, c := range allow5xx {
			ok = ok || c == resp.StatusCode
		}
		if !ok {
			bad = append(bad, fmt.Sprintf("status %d (body %q)", resp.StatusCode, clip(resp.body, 300)))
		}
	}
	for name, vs := range resp.Header {
		if strings.EqualFold(name, injectedHeader) {
			bad = append(bad, fmt.Sprintf("injected response header %s: %q", name, vs))
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				bad = append(bad, fmt.Sprintf("header %s carries a control byte: %q", name, v))
			}
		}
	}
	for _, c := range resp.Cookies() {
		if strings.EqualFold(c.Name, injectedCookie) {
			bad = append(bad, fmt.Sprintf("injected cookie %q", c.String()))
		}
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc := resp.Header.Values("Location"); len(loc) != 1 || !allowedLocation(loc[0]) {
			bad = append(bad, fmt.Sprintf("redirect %d to %q: only %s or refedge's own partner pages may be a target", resp.StatusCode, loc, hostileOrigin))
		}
	}
	if strings.Contains(strings.ToLower(resp.Header.Get("Content-Type")), "text/html") {
		for _, r := range htmlReflections(resp.body) {
			bad = append(bad, "payload reflected unescaped in HTML: "+r)
		}
	}
	return bad
}

// allowedLocation accepts the market origin (and any path on it), or a path on the
// listener that answered (the login redirect to /partner, net/http's ServeMux redirect
// to a cleaned path): nothing a browser could read as another host.
func allowedLocation(loc string) bool {
	for i := 0; i < len(loc); i++ {
		if c := loc[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	if loc == hostileOrigin || strings.HasPrefix(loc, hostileOrigin+"/") {
		u, err := url.Parse(loc)
		return err == nil && u.Scheme == "https" && u.Host == "market.example" && u.User == nil
	}
	return strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//")
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
