package event

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"
)

// appendStringRef is the byte-at-a-time encoder appendString replaced; the fast one must
// produce the same bytes.
func appendStringRef(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, `\u202`...)
			dst = strconv.AppendInt(dst, int64(r&0xf), 16)
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	got := appendString([]byte("x"), s)
	if want := appendStringRef([]byte("x"), s); !bytes.Equal(got, want) {
		t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
	}
	var back string
	if err := json.Unmarshal(got[1:], &back); err != nil {
		t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
	}
	if utf8.ValidString(s) && back != s {
		t.Fatalf("appendString(%q) reads back as %q", s, back)
	}
}

func TestAppendString(t *testing.T) {
	f := func(s string) { t.Helper(); checkAppendString(t, s) }
	f("")
	f("plain ascii /path?q=1")
	f(`"quoted" and \back\slashed`)
	f("<script>&</script>")
	f("\x00\x01\x1f\x7f tabs\tnew\nlines\r")
	f("кириллица и emoji 🦊")
	f("sep\u2028par\u2029end\u2027\u202a")
	f("bad \xff\xfe bytes \xe2\x82 cut")
	f("\xf0\x9f\xa6")
	f(string([]byte{0xed, 0xa0, 0x80})) // a UTF-16 surrogate in UTF-8: invalid
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "<>&", "\u2028", "\xff", "é", "🦊\x00"} {
		f.Add(s)
	}
	f.Fuzz(checkAppendString)
}

// TestAppendIDDamaged: an id that is not hex and dashes (a damaged spool record) is
// still escaped.
func TestAppendIDDamaged(t *testing.T) {
	var id ClickID
	copy(id[:], `0123456789"<>&\abcdef0123456789abcdef`)
	got := appendID(nil, &id)
	if want := appendStringRef(nil, string(id[:])); !bytes.Equal(got, want) {
		t.Fatalf("appendID = %s, want %s", got, want)
	}
	id = NewClickID(time.Unix(1795262400, 0))
	if got, want := appendID(nil, &id), appendStringRef(nil, string(id[:])); !bytes.Equal(got, want) {
		t.Fatalf("appendID = %s, want %s", got, want)
	}
}
