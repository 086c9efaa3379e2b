package banners

// maxCreativeID bounds a creative id. With "-WxH" appended it still fits the tracker's
// cr= parameter ([0-9A-Za-z_-]{1,64}).
const maxCreativeID = 48

// ValidCreativeID reports whether id matches [a-z0-9_-]{1,48}. Lower case only: ids
// name folders in the masters and cache directories, which may be case-insensitive.
func ValidCreativeID(id string) bool {
	if len(id) == 0 || len(id) > maxCreativeID {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !creativeByte(id[i]) {
			return false
		}
	}
	return true
}

func creativeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// parsePath splits "/b/{creative}/{W}x{H}.jpg" into the creative id (aliasing p) and
// the index of the size in Sizes. Anything else, including a well-formed size that is
// not in the program, reports ok == false. It does not allocate.
func parsePath(p []byte) (creative []byte, size int, ok bool) {
	const prefix, suffix = "/b/", ".jpg"
	if len(p) < len(prefix)+len(suffix) || string(p[:len(prefix)]) != prefix || string(p[len(p)-len(suffix):]) != suffix {
		return nil, -1, false
	}
	rest := p[len(prefix) : len(p)-len(suffix)]
	slash := -1
	for i, c := range rest {
		if c == '/' {
			slash = i
			break
		}
		if !creativeByte(c) {
			return nil, -1, false
		}
	}
	if slash < 1 || slash > maxCreativeID {
		return nil, -1, false
	}
	creative, dims := rest[:slash], rest[slash+1:]
	w, dims, ok := atoiPrefix(dims)
	if !ok || len(dims) == 0 || dims[0] != 'x' {
		return nil, -1, false
	}
	h, dims, ok := atoiPrefix(dims[1:])
	if !ok || len(dims) != 0 {
		return nil, -1, false
	}
	if size = sizeIndex(w, h); size < 0 {
		return nil, -1, false
	}
	return creative, size, true
}

// atoiPrefix parses 1-4 leading decimal digits without a leading zero.
func atoiPrefix(b []byte) (n int, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i < 5 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i > 4 || b[0] == '0' {
		return 0, b, false
	}
	return n, b[i:], true
}
