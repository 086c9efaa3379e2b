package crawlers

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// listJSON is the crawler list of the npm package crawler-user-agents (MIT); see
// data/SOURCE for its version and deploy/scripts/refresh-crawlers.sh to update it.
//
//go:embed data/crawler-user-agents.json
var listJSON []byte

// listEntry is one entry of crawler-user-agents.json; other fields are ignored.
type listEntry struct {
	Pattern   string   `json:"pattern"`
	Instances []string `json:"instances"`
}

func parseList(data []byte) ([]listEntry, error) {
	var entries []listEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("cannot parse crawler list: %w", err)
	}
	if len(entries) == 0 {
		return nil, errors.New("crawler list is empty")
	}
	return entries, nil
}

// override narrows or drops a list pattern that also matches real browsers. Each entry
// says which browsers it hit; TestListInstances checks that a narrowed pattern still
// matches the entry's own instances, and TestCorpora that the browsers are spared.
type override struct {
	replacement string // RE2 pattern used instead; "" drops the pattern
	why         string
}

var listOverrides = map[string]override{
	// The Blackboard Learn mobile app's in-app browser says "Blackboard/3.6.0"; the
	// crawler is SafeAssign's plagiarism checker.
	`Blackboard`: {`Blackboard Safeassign`, "Blackboard Learn app users"},
	// Sogou's mobile browser says "SogouMSE" and "SogouMobileBrowser"; every instance of
	// the entry is one of Sogou's spiders.
	`Sogou`: {`Sogou[\w ]*[sS]pider`, "Sogou mobile browser users"},
	// "008/" also occurs inside Opera Mini build numbers ("Opera Mini/4.4.39008/37.8625");
	// the crawler's product token starts the UA or a comment.
	`008\/`: {`(^|[ (;])008\/`, "Opera Mini version numbers"},
	// Fluid is a site-specific browser for macOS driven by a person (the entry's own
	// description says so), not an automated client.
	`Fluid`: {"", "Fluid site-specific browser users"},
	// "MetaIAB Facebook" ends the User-Agent of Facebook's in-app browser, which
	// opens a link a person tapped in the app (inapp.go); the list calls it a preview
	// fetcher, but its one instance is a full Android WebView User-Agent. Facebook's
	// preview fetchers are facebookexternalhit and Facebot.
	`MetaIAB Facebook`: {"", "Facebook in-app browser users"},
	// Viber's preview fetcher says just "Viber"; its in-app browser adds "Viber/11.9.5.8"
	// after a full browser User-Agent (inapp.go).
	`Viber`: {`^Viber`, "Viber in-app browser users"},
}

// errUnsupported marks a JavaScript regexp feature RE2 does not have.
var errUnsupported = errors.New("unsupported by RE2")

// jsToRE2 rewrites a JavaScript regexp (the list's syntax) for Go's regexp package:
// \uXXXX and \u{X} become \x{...}. Lookarounds and backreferences have no RE2
// equivalent; such patterns are reported with errUnsupported and skipped.
func jsToRE2(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '(' && strings.HasPrefix(p[i:], "(?") {
			rest := p[i+2:]
			if strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "!") ||
				strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!") {
				return "", fmt.Errorf("lookaround %q: %w", p, errUnsupported)
			}
		}
		if c != '\\' || i+1 == len(p) {
			b.WriteByte(c)
			continue
		}
		n := p[i+1]
		switch {
		case n >= '1' && n <= '9':
			return "", fmt.Errorf("backreference %q: %w", p, errUnsupported)
		case n == 'u' && i+2 < len(p) && p[i+2] == '{':
			end := strings.IndexByte(p[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("bad \\u{} escape in %q", p)
			}
			b.WriteString(`\x` + p[i+2:i+2+end+1])
			i += 2 + end
		case n == 'u' && i+6 <= len(p) && isHex(p[i+2:i+6]):
			b.WriteString(`\x{` + p[i+2:i+6] + `}`)
			i += 5
		default:
			b.WriteByte(c)
			b.WriteByte(n)
			i++
		}
	}
	return b.String(), nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if !('0' <= s[i] && s[i] <= '9') && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
