package banners

// etagMatch reports whether an If-None-Match value matches etag (a quoted strong tag).
// If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored,
// and "*" matches any current representation. It does not allocate.
func etagMatch(header, etag []byte) bool {
	for {
		for len(header) > 0 && (header[0] == ' ' || header[0] == '\t' || header[0] == ',') {
			header = header[1:]
		}
		if len(header) == 0 {
			return false
		}
		if header[0] == '*' {
			return true
		}
		if len(header) >= 2 && header[0] == 'W' && header[1] == '/' {
			header = header[2:]
		}
		if len(header) == 0 || header[0] != '"' {
			// Not an entity tag: skip to the next list element.
			i := 0
			for i < len(header) && header[i] != ',' {
				i++
			}
			header = header[i:]
			continue
		}
		end := 1
		for end < len(header) && header[end] != '"' {
			end++
		}
		if end == len(header) {
			return false
		}
		if string(header[:end+1]) == string(etag) {
			return true
		}
		header = header[end+1:]
	}
}
