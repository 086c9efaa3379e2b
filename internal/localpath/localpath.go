// Package localpath checks a path that refedge redirects a browser to after a sign-in,
// so that a crafted "next" parameter can never send the browser to another host.
package localpath

// Plain reports whether p is a plain absolute path on this host: it starts with "/",
// holds printable ASCII only, no backslash and no "//" (browsers read "//host" and
// "/\host" as another host).
func Plain(p string) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' || c < 0x21 || c > 0x7e || (c == '/' && i+1 < len(p) && p[i+1] == '/') {
			return false
		}
	}
	return true
}
