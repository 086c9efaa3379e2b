package main

import (
	"fmt"
	"strings"

	"github.com/refedge/refedge/attribution/ledger"
)

// componentVars are the optional tunables each part reads itself (its LoadEnv); every
// one has a default. Listed here so --help names every variable refedge reads.
var componentVars = []struct{ part, name, help string }{
	{"banners", "REFEDGE_BANNERS_DIR", "master creatives, one folder per creative; receives uploads (default ./creatives)"},
	{"banners", "REFEDGE_BANNERS_CACHE_DIR", "rendered JPEGs kept across restarts (default ./banner-cache)"},
	{"banners", "REFEDGE_BANNERS_BUILTIN", "serve the generated default creatives, 1 or 0 (default 1)"},
	{"banners", "REFEDGE_BANNERS_JPEG_QUALITY", "JPEG quality 1-100 (default 85)"},
	{"banners", "REFEDGE_BANNERS_MAX_UPLOAD_BYTES", "largest master upload (default 20 MiB)"},
	{"banners", "REFEDGE_BANNERS_MAX_PIXELS", "largest master width*height, checked before decoding (default 25000000)"},
	{"banners", "REFEDGE_BANNERS_DEDUP_WINDOW", "one banner impression per visitor within (default 1h)"},
	{"widget", "REFEDGE_WIDGET_LINK_BASE", "base of card links (default the market origin; REFEDGE_PUBLIC_URL in dev)"},
	{"widget", "REFEDGE_WIDGET_CACHE_TTL", "how long widget configs and partner standing are reused (default 2s)"},
	{"widget", "REFEDGE_WIDGET_VIEW_WINDOW", "how long a render's view beacon is accepted (default 1h)"},
	{"widget", "REFEDGE_WIDGET_MAX_PER_PARTNER", "widgets per partner (default 200)"},
	{"widget", "REFEDGE_WIDGET_MAX_UPLOAD_BYTES", "largest kwork image upload (default 5 MiB)"},
	{"widget", "REFEDGE_WIDGET_MAX_PIXELS", "largest kwork image width*height (default 16 megapixels)"},
	{"widget", "REFEDGE_WIDGET_THUMB_CACHE_BYTES", "in-memory thumbnail cache (default 64 MiB)"},
	{"links", "REFEDGE_LINK_BASE", "base of links the link builder makes (default the market origin; REFEDGE_PUBLIC_URL in dev)"},
	{"analytics", "REFEDGE_ANALYTICS_CLICKHOUSE_DSN", "ClickHouse for partner analytics and review (default REFEDGE_CLICKHOUSE_DSN)"},
	{"analytics", "REFEDGE_ANALYTICS_CLICKHOUSE_POOL", "analytics connections (default 4)"},
	{"analytics", "REFEDGE_ANALYTICS_TIMEOUT", "per-request query budget (default 5s)"},
	{"analytics", "REFEDGE_ANALYTICS_MAX_RANGE_DAYS", "longest stats range (default 400)"},
	{"analytics", "REFEDGE_ANALYTICS_MAX_CONCURRENT", "analytics requests at once; more get 429 (default 8)"},
	{"analytics", "REFEDGE_ANALYTICS_SEALER", "1 runs the background sealer of closed hours (default 1)"},
}

// componentHelp lists the parts' optional variables, the ledger's from its own table.
func componentHelp() string {
	var b strings.Builder
	b.WriteString("\nOptional tunables of each part (all have defaults):\n")
	for _, v := range ledger.Env {
		fmt.Fprintf(&b, "  %s\n      ledger: %s", v.Name, v.Help)
		if v.Default != "" {
			fmt.Fprintf(&b, " (default %q)", v.Default)
		}
		b.WriteString("\n")
	}
	for _, v := range componentVars {
		fmt.Fprintf(&b, "  %s\n      %s: %s\n", v.name, v.part, v.help)
	}
	return b.String()
}
