package analytics

import (
	"strings"
	"testing"

	"github.com/refedge/refedge/attribution/event"
)

func TestReasonText(t *testing.T) {
	f := func(code, want string) {
		t.Helper()
		if got := ReasonText(code); !strings.Contains(got, want) {
			t.Errorf("ReasonText(%q) = %q, want it to contain %q", code, got, want)
		}
	}
	// The codes the brief and the tracker use read as sentences.
	f("ua:crawler", "crawler")
	// The User-Agent rules' reasons each have their own sentence.
	f("ua:monitor", "monitoring")
	f("ua:transcoder", "transcoder")
	f("ua:lowercase", "lower case")
	f("ua:khtml-comment", "crawler named itself")
	f("ua:automation", "test-automation")
	f("ua:payload", "attack payload")
	f("ua:tool-token", "tool added its own name")
	f("fetch:dest=iframe", "frame")
	f("ad:gclid", "Google Ads")
	f("partner:unknown", "registered partner")
	f("partner:unconfirmed", "email address was not confirmed")
	f("degraded:redis", "fewer checks")
	// Unknown details of a known family keep the family's sentence.
	f("fetch:dest=audio", "(dest=audio)")
	f("ad:utm_medium=cpc", "(utm_medium=cpc)")
	f("beacon:new-signal", "visibility check failed (new-signal)")
	// Unknown families read as the raw code (escaped by the caller).
	f("zz:<b>x</b>", "zz:<b>x</b>")
	f("nofamily", "nofamily")
	f("ua:", "ua:")
	for _, v := range event.Verdicts() {
		if VerdictText(v.String()) == v.String() {
			t.Errorf("verdict %s has no text", v)
		}
	}
}

func TestCSVText(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := CSVText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("sub-1", "sub-1")
	f("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")")
	f("+1", "'+1")
	f("-1+2", "'-1+2")
	f("@SUM(A1)", "'@SUM(A1)")
	f("\tx", "'\tx")
}

func TestFmtMoney(t *testing.T) {
	f := func(v int64, cur, want string) {
		t.Helper()
		if got := FormatMoney(v, cur); got != want {
			t.Errorf("fmtMoney(%d, %s) = %q, want %q", v, cur, got, want)
		}
	}
	f(0, "RUB", "0.00 RUB")
	f(5, "USD", "0.05 USD")
	f(123456, "RUB", "1,234.56 RUB")
	f(-123456, "RUB", "-1,234.56 RUB")
	f(1234, "JPY", "1,234 JPY")
	f(1234, "KWD", "1.234 KWD")
	f(-9223372036854775808, "USD", "-92,233,720,368,547,758.08 USD")
	if got := FormatCount(1234567); got != "1,234,567" {
		t.Errorf("fmtCount = %q", got)
	}
}
