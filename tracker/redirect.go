package tracker

import (
	"bytes"
)

// Refedge's own query parameters; they are removed before the redirect.
var ownParams = [...]string{"ref", "src", "cr", "sub"}

// MaxPathLen is the longest path kept in a redirect; a longer one redirects to the
// origin's root instead (still on the origin, never truncated mid-escape).
const MaxPathLen = 2048

// MaxQueryLen is the longest query kept in a redirect; a longer one is dropped.
const MaxQueryLen = 4096

// appendLocation appends origin + a safe form of rawPath + "?" + the query without
// refedge's parameters. origin is "scheme://host[:port]" from configuration and is the
// only host the result can name: the path always starts with exactly one '/', and every
// byte that could end the path or change how a browser parses the URL ('\', CR, LF,
// controls, spaces, '#', non-ASCII, a '%' not starting an escape) is percent-encoded.
func appendLocation(dst []byte, origin string, rawPath, rawQuery []byte) []byte {
	dst = append(dst, origin...)
	dst = append(dst, '/')
	if len(rawPath) <= MaxPathLen {
		// Drop every leading '/' and '\': "//evil" or "/\evil" would read as a
		// scheme-relative URL if the origin were ever empty, and are not useful paths.
		i := 0
		for i < len(rawPath) && (rawPath[i] == '/' || rawPath[i] == '\\') {
			i++
		}
		dst = appendEscaped(dst, rawPath[i:], false)
	}
	if len(rawQuery) == 0 || len(rawQuery) > MaxQueryLen {
		return dst
	}
	mark := len(dst)
	dst = append(dst, '?')
	first := true
	forEachParam(rawQuery, func(kv, key []byte) {
		if isOwnParam(key) {
			return
		}
		if !first {
			dst = append(dst, '&')
		}
		first = false
		dst = appendEscaped(dst, kv, true)
	})
	if first {
		dst = dst[:mark]
	}
	return dst
}

// forEachParam calls fn for each non-empty '&'-separated pair of q with its raw text and
// its key (raw, before '=').
func forEachParam(q []byte, fn func(kv, key []byte)) {
	for len(q) > 0 {
		var kv []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		if len(kv) == 0 {
			continue
		}
		key := kv
		if i := bytes.IndexByte(kv, '='); i >= 0 {
			key = kv[:i]
		}
		fn(kv, key)
	}
}

// isOwnParam reports whether a raw query key names one of refedge's parameters, after
// percent-decoding ("%72ef" is "ref") and ignoring case.
func isOwnParam(rawKey []byte) bool {
	if len(rawKey) > 3*4 {
		return false
	}
	var buf [4]byte
	n := 0
	for i := 0; i < len(rawKey); i++ {
		c := rawKey[i]
		if c == '%' && i+2 < len(rawKey) && ishex(rawKey[i+1]) && ishex(rawKey[i+2]) {
			c = unhex(rawKey[i+1])<<4 | unhex(rawKey[i+2])
			i += 2
		} else if c == '+' {
			c = ' '
		}
		if n == len(buf) {
			return false
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[n] = c
		n++
	}
	for _, p := range ownParams {
		if string(buf[:n]) == p {
			return true
		}
	}
	return false
}

// pathSafe marks bytes kept as they are in a path (RFC 3986 pchar and '/');
// querySafe adds '?' and keeps '&' '=' for the pair structure.
var pathSafe, querySafe [256]bool

func init() {
	for c := 'a'; c <= 'z'; c++ {
		pathSafe[c], querySafe[c] = true, true
	}
	for c := 'A'; c <= 'Z'; c++ {
		pathSafe[c], querySafe[c] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		pathSafe[c], querySafe[c] = true, true
	}
	for _, c := range "-._~!$'()*+,;=:@/" {
		pathSafe[c], querySafe[c] = true, true
	}
	querySafe['?'] = true
	pathSafe['&'] = true
	querySafe['&'] = true
}

// appendEscaped appends s, percent-encoding every byte that is not safe. An existing
// escape ("%2F") is kept as it is; a stray '%' becomes "%25".
func appendEscaped(dst, s []byte, query bool) []byte {
	safe := &pathSafe
	if query {
		safe = &querySafe
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case safe[c]:
			dst = append(dst, c)
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			dst = append(dst, c)
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	return dst
}

const upperHex = "0123456789ABCDEF"

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
