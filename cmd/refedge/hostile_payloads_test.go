package main

import (
	"strings"
)

// payload is one hostile value. raw payloads are already URL-encoded text (percent
// tricks) and go into paths and queries as they are; the others are percent-encoded
// there so the server decodes exactly these bytes. Headers, cookies and JSON strings
// carry the bytes as they are.
type payload struct {
	name  string
	value string
	raw   bool
}

var longA = strings.Repeat("A", 3000)

// hostilePayloads is the set sent in every parameter. Markup payloads carry the
// sentinel the reflection check looks for; header-injection payloads add a header and
// a cookie whose names the response check looks for.
var hostilePayloads = []payload{
	// SQL (ClickHouse and generic).
	{name: "sql-quote", value: `' OR '1'='1`},
	{name: "sql-stack", value: `1; DROP TABLE refedge.clicks; --`},
	{name: "sql-union", value: `x' UNION ALL SELECT name, engine FROM system.tables --`},
	{name: "sql-sleep", value: `1' AND sleep(3) AND '1'='1`},
	{name: "sql-comment", value: `admin'/*`},
	{name: "sql-backslash", value: `\' OR 1=1 #`},
	// HTML and JS.
	{name: "xss-script", value: `<script>hx7331()</script>`},
	{name: "xss-attr-break", value: `"><img src=x onerror=hx7331()>`},
	{name: "xss-squote-break", value: `'><svg/onload=hx7331()>`},
	{name: "xss-js-url", value: `javascript:hx7331()`},
	{name: "xss-script-close", value: `</script><script>hx7331()</script>`},
	{name: "xss-js-string", value: `';hx7331();//"`},
	{name: "template", value: `{{.}}{{template "x"}}${7*7}<%= 7*7 %>`},
	// Bad UTF-8 and control bytes.
	{name: "utf8-invalid", value: "\xff\xfe\xfd"},
	{name: "utf8-overlong-slash", value: "\xc0\xaf\xe0\x80\xaf"},
	{name: "utf8-surrogate", value: "\xed\xa0\x80\xed\xbf\xbf"},
	{name: "utf8-truncated", value: "ab\xe2\x82"},
	{name: "nul", value: "a\x00b"},
	{name: "crlf-header", value: "a\r\n" + injectedHeader + ": 1\r\nSet-Cookie: " + injectedCookie + "=1"},
	{name: "lf-header", value: "a\n" + injectedHeader + ": 1"},
	{name: "controls", value: "\x01\x07\x08\x1b[31m\x7f"},
	{name: "bidi-zero-width", value: "\u202eevil\u200b\ufeff"},
	// Length.
	{name: "long-3k", value: longA},
	{name: "long-9k", value: strings.Repeat("B", 9000)},
	{name: "empty", value: ""},
	// Percent-encoding tricks (sent as they are).
	{name: "pct-nul", value: "%00", raw: true},
	{name: "pct-crlf", value: "a%0d%0a" + injectedHeader + ":%201%0d%0aSet-Cookie:%20" + injectedCookie + "=1", raw: true},
	{name: "pct-double-crlf", value: "%250d%250a" + injectedHeader + ":%25201", raw: true},
	{name: "pct-double-dots", value: "%252e%252e%252f%252e%252e%252fetc%252fpasswd", raw: true},
	{name: "pct-overlong", value: "%c0%ae%c0%ae%c0%af", raw: true},
	{name: "pct-broken", value: "%zz%4%", raw: true},
	{name: "pct-unicode", value: "%u003cscript%u003e", raw: true},
	{name: "pct-script", value: "%3Cscript%3Ehx7331()%3C/script%3E", raw: true},
	{name: "pct-high", value: "%ff%fe%80", raw: true},
	// Path traversal.
	{name: "traversal", value: "../../../../etc/passwd"},
	{name: "traversal-encoded", value: "..%2f..%2f..%2fetc%2fpasswd", raw: true},
	{name: "traversal-backslash", value: `..\..\..\windows\win.ini`},
	{name: "traversal-abs", value: "/etc/passwd"},
	// Hosts and URLs.
	{name: "homoglyph-host", value: "https://mаrket.example/categories"}, // Cyrillic а
	{name: "fullwidth-host", value: "https://ｍarket.example/"},
	{name: "suffix-host", value: "https://market.example.evil.test/"},
	{name: "userinfo-host", value: "https://market.example@evil.test/"},
	{name: "scheme-relative", value: "//evil.test/x"},
	{name: "backslash-host", value: `/\evil.test/x`},
	{name: "punycode-host", value: "https://xn--mrket-8ve.example/"},
	{name: "data-url", value: "data:text/html,<script>hx7331()</script>"},
	// Numbers.
	{name: "num-negative", value: "-1"},
	{name: "num-zero", value: "0"},
	{name: "num-huge", value: "99999999999999999999999"},
	{name: "num-int64-overflow", value: "9223372036854775808"},
	{name: "num-float-overflow", value: "1e309"},
	{name: "num-nan", value: "NaN"},
	{name: "num-inf", value: "-Infinity"},
	{name: "num-hex", value: "0x7fffffff"},
	{name: "size-negative", value: "-300x-250"},
	{name: "size-huge", value: "99999x99999"},
	// Malformed JSON text in a string parameter.
	{name: "json-text", value: `{"a":[1,2,{"b":`},
}

// jsonTokens replace a JSON field's value with something that is not the string the
// field expects: wrong types, numeric edge values, broken syntax.
var jsonTokens = []payload{
	{name: "tok-null", value: `null`},
	{name: "tok-true", value: `true`},
	{name: "tok-array", value: `[1,"a",null]`},
	{name: "tok-object", value: `{"a":{"b":{}}}`},
	{name: "tok-negative", value: `-1`},
	{name: "tok-huge", value: `99999999999999999999999999999`},
	{name: "tok-float-overflow", value: `1e999`},
	{name: "tok-fraction", value: `0.5`},
	{name: "tok-nan", value: `NaN`},
	{name: "tok-inf", value: `Infinity`},
	{name: "tok-bad-escape", value: `"\ud800\x"`},
	{name: "tok-unterminated", value: `"abc`},
	{name: "tok-deep", value: strings.Repeat("[", 20000) + strings.Repeat("]", 20000)},
}

// bodyPayloads replace a whole request body.
var bodyPayloads = []payload{
	{name: "body-empty", value: ""},
	{name: "body-open-brace", value: "{"},
	{name: "body-truncated", value: `{"a":`},
	{name: "body-array", value: `[]`},
	{name: "body-null", value: `null`},
	{name: "body-string", value: `"<script>hx7331()</script>"`},
	{name: "body-unknown-field", value: `{"hx_unknown":1}`},
	{name: "body-two-objects", value: `{}{}`},
	{name: "body-trailing-garbage", value: `{} <script>hx7331()</script>`},
	{name: "body-duplicate-keys", value: `{"a":1,"a":"x"}`},
	{name: "body-bom", value: "\ufeff{}"},
	{name: "body-invalid-utf8", value: "{\"\xff\":\"\xfe\"}"},
	{name: "body-nul", value: "{\x00}"},
	{name: "body-deep", value: strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)},
	{name: "body-huge-number", value: `{"a":` + strings.Repeat("9", 5000) + `}`},
	{name: "body-xml", value: `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>`},
	{name: "body-form", value: "a=1&b=%3Cscript%3Ehx7331()%3C%2Fscript%3E"},
	{name: "body-binary", value: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xff\x00\x00\xff\xff\x08\x06\x00\x00\x00"},
	{name: "body-jpeg-header", value: "\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9"},
	{name: "body-600k", value: strings.Repeat("x", 600<<10)},
}

// jsonString quotes s as a JSON string but keeps every byte that is not '"', '\' or a
// control character as it is, so invalid UTF-8 reaches the server's decoder (Go's
// encoder would replace it with U+FFFD).
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			const hex = "0123456789abcdef"
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
