package tracker

import (
	"context"
	"testing"
)

func TestExplain(t *testing.T) {
	e := newTestEdge(t, memState(), &memQueue{})
	chrome := map[string]string{
		"User-Agent": browserHeaders[1], "Accept": "text/html", "Accept-Language": "en",
		"Sec-CH-UA": `"Chromium";v="156"`, "Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-User": "?1",
	}
	resp, err := e.Explain(context.Background(), ClassifyRequest{URL: "https://market.example/x?ref=12345&gclid=1", Headers: chrome, IP: "203.0.113.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Without a registry the partner is unknown; every other signal is still reported.
	if resp.Verdict != "unknown_partner" || len(resp.Reasons) < 3 {
		t.Fatalf("%+v", resp)
	}
	if _, err := e.Explain(context.Background(), ClassifyRequest{URL: "::"}, nil); err == nil {
		t.Fatal("a malformed URL was classified")
	}
}
