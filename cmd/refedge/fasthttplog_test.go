package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// fasthttp's message for a malformed request quotes the request; the quoted bytes (a
// Cookie, an Authorization header) never reach the log, and a flood is cut to the burst
// with the rest counted on the next line that passes.
func TestFasthttpLoggerWithholdsRequestsAndThrottles(t *testing.T) {
	var buf bytes.Buffer
	l := newFasthttpLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	secret := "Cookie: rfe_ref=SECRET; Authorization: Bearer pt1.SECRET"
	for i := 0; i < 3*fasthttpLogBurst; i++ {
		l.Printf("error when serving connection %q<->%q: %v", "127.0.0.1:8080", "127.0.0.1:5555",
			"error when reading request headers: invalid header key \" Bad\": buffer size=120, contents: \"GET / HTTP/1.1\\r\\n"+secret+"\"")
	}
	out := buf.String()
	if strings.Contains(out, "SECRET") {
		t.Fatalf("request bytes reached the log:\n%s", out)
	}
	if !strings.Contains(out, "request bytes withheld") || !strings.Contains(out, "invalid header key") {
		t.Fatalf("the message lost its meaning:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n > fasthttpLogBurst+1 {
		t.Fatalf("%d lines logged for %d messages; want at most the burst of %d", n, 3*fasthttpLogBurst, fasthttpLogBurst)
	}
	if l.suppressed.Load() == 0 {
		t.Fatal("no message counted as suppressed")
	}
}

func TestWithholdRequestBytes(t *testing.T) {
	for in, want := range map[string]string{
		"cannot parse: buffer size=12, contents: \"x\"": "cannot parse (request bytes withheld)",
		"cannot parse. Buffer size=12, contents: \"x\"": "cannot parse (request bytes withheld)",
		"timeout while reading":                         "timeout while reading",
		`error when serving connection "a"<->"b": error when reading request headers: unsupported http version "HTTQ/1.1" in "GET / HTTQ/1.1\r\nCookie: rfe_ref=SECRET\r\n"`: `error when serving connection "a"<->"b": error when reading request headers: unsupported http version "…" in "…" (request bytes withheld)`,
	} {
		if got := withholdRequestBytes(in); got != want {
			t.Errorf("withholdRequestBytes(%q) = %q, want %q", in, got, want)
		}
	}
}
