package main

import (
	"fmt"
	"html"
	"strings"
	"testing"
)

// htmlReflections scans an HTML document the way a browser tokenizes it (start tags,
// attributes, comments, raw-text elements) and reports every place where a payload's
// sentinel became live markup: a script element whose code is the payload, an event
// handler attribute (on*) running it, or a javascript: URL in an attribute that loads
// or navigates. An escaped reflection (&lt;script&gt;, a quoted attribute value, JSON
// inside a script) is text and is not reported.
func htmlReflections(body []byte) []string {
	var out []string
	for _, tag := range scanTags(string(body)) {
		if tag.name == "!--" {
			continue // an unterminated comment hides the rest: nothing in it is live
		}
		for _, a := range tag.attrs {
			v := strings.ToLower(strings.TrimSpace(html.UnescapeString(a[1])))
			switch {
			case !strings.Contains(v, sentinel):
			case strings.HasPrefix(a[0], "on"):
				out = append(out, fmt.Sprintf("<%s %s=%q>", tag.name, a[0], a[1]))
			case urlAttr(a[0]) && strings.HasPrefix(strings.Join(strings.Fields(v), ""), "javascript:"):
				out = append(out, fmt.Sprintf("<%s %s=%q>", tag.name, a[0], a[1]))
			}
		}
		if text := strings.TrimSpace(tag.text); tag.name == "script" && strings.HasPrefix(text, sentinel) {
			out = append(out, fmt.Sprintf("<script>%s", clip([]byte(text), 80)))
		}
	}
	return out
}

// htmlTag is a start tag as a browser's tokenizer reads it; text is the raw text of a
// script, style, textarea, title, xmp or noscript element.
type htmlTag struct {
	name  string
	attrs [][2]string
	text  string
}

// scanTags reads every start tag of doc as a browser's tokenizer does, skipping comments
// and keeping the content of raw-text elements as the tag's text. A comment that never
// closes is reported as a tag named "!--" holding the rest of the document.
func scanTags(doc string) []htmlTag {
	var out []htmlTag
	for i := 0; i < len(doc); {
		j := strings.IndexByte(doc[i:], '<')
		if j < 0 {
			break
		}
		i += j + 1
		if strings.HasPrefix(doc[i:], "!--") {
			k := strings.Index(doc[i+3:], "-->")
			if k < 0 {
				// The rest of the page is a comment: a payload's "<!--" came through.
				out = append(out, htmlTag{name: "!--", text: doc[i+3:]})
				break
			}
			i += 3 + k + 3
			continue
		}
		if i >= len(doc) || !asciiLetter(doc[i]) {
			continue
		}
		k := i
		for k < len(doc) && !htmlSpace(doc[k]) && doc[k] != '/' && doc[k] != '>' {
			k++
		}
		tag := htmlTag{name: strings.ToLower(doc[i:k])}
		tag.attrs, i = scanAttrs(doc, k)
		switch tag.name {
		case "script", "style", "textarea", "title", "xmp", "noscript":
			k := strings.Index(strings.ToLower(doc[i:]), "</"+tag.name)
			if k < 0 {
				k = len(doc) - i
			}
			tag.text = doc[i : i+k]
			i += k
		}
		out = append(out, tag)
	}
	return out
}

// scanAttrs reads attributes from s[i:] up to the tag's '>' and returns them as
// lower-case name, raw value pairs with the index after the tag.
func scanAttrs(s string, i int) ([][2]string, int) {
	var attrs [][2]string
	for i < len(s) {
		for i < len(s) && (htmlSpace(s[i]) || s[i] == '/') {
			i++
		}
		if i >= len(s) || s[i] == '>' {
			return attrs, i + 1
		}
		k := i
		for k < len(s) && !htmlSpace(s[k]) && s[k] != '=' && s[k] != '>' && s[k] != '/' {
			k++
		}
		if k == i { // a stray '=': skip it
			k++
		}
		name := strings.ToLower(s[i:k])
		i = k
		for i < len(s) && htmlSpace(s[i]) {
			i++
		}
		val := ""
		if i < len(s) && s[i] == '=' {
			i++
			for i < len(s) && htmlSpace(s[i]) {
				i++
			}
			if i < len(s) && (s[i] == '"' || s[i] == '\'') {
				q := s[i]
				k := strings.IndexByte(s[i+1:], q)
				if k < 0 {
					return append(attrs, [2]string{name, s[i+1:]}), len(s)
				}
				val, i = s[i+1:i+1+k], i+1+k+1
			} else {
				k := i
				for k < len(s) && !htmlSpace(s[k]) && s[k] != '>' {
					k++
				}
				val, i = s[i:k], k
			}
		}
		attrs = append(attrs, [2]string{name, val})
	}
	return attrs, i
}

func urlAttr(name string) bool {
	switch name {
	case "href", "src", "action", "formaction", "data", "xlink:href", "srcdoc", "poster", "background":
		return true
	}
	return false
}

func asciiLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func htmlSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// TestHostileHTMLScanner: the reflection check finds live payloads and passes escaped ones.
func TestHostileHTMLScanner(t *testing.T) {
	f := func(doc string, want int) {
		t.Helper()
		if got := htmlReflections([]byte(doc)); len(got) != want {
			t.Errorf("%q: %d reflections %q, want %d", doc, len(got), got, want)
		}
	}
	f(`<p>hello</p>`, 0)
	f(`<p><script>hx7331()</script></p>`, 1)
	f(`<p><ScRiPt >hx7331()</sCrIpT></p>`, 1)
	f(`<input value=""><img src=x onerror=hx7331()>">`, 1)
	f(`<svg/onload=hx7331()>`, 1)
	f(`<a href="javascript:hx7331()">x</a>`, 1)
	f(`<a href=" JaVaScRiPt&#58;hx7331()">x</a>`, 1)
	f(`<a href="https://market.example/?q=javascript:hx7331()">x</a>`, 0)
	f(`<p>&lt;script&gt;hx7331()&lt;/script&gt;</p>`, 0)
	f(`<input value="&#34;&gt;&lt;img src=x onerror=hx7331()&gt;">`, 0)
	f(`<img alt="&lt;img src=x onerror=hx7331()&gt;" src="/b/x.jpg">`, 0)
	f(`<script>var d = {"q":"\u003cscript\u003ehx7331()"};</script>`, 0)
	f(`<!-- <script>hx7331()</script> --><p>x</p>`, 0)
	f(`<a href="#ZgotmplZ">hx7331</a>`, 0)
}
