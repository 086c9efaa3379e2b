package widget

import "bytes"

// refererHost returns the host of a Referer value (aliasing it), or nil when it has
// none or is not printable ASCII.
func refererHost(ref []byte) []byte {
	i := bytes.Index(ref, []byte("://"))
	if i < 0 {
		return nil
	}
	h := ref[i+3:]
	if j := bytes.IndexAny(h, "/?#"); j >= 0 {
		h = h[:j]
	}
	if j := bytes.LastIndexByte(h, '@'); j >= 0 {
		h = h[j+1:]
	}
	if len(h) == 0 || len(h) > 253 {
		return nil
	}
	for _, c := range h {
		if c <= 0x20 || c > 0x7e {
			return nil
		}
	}
	return h
}
