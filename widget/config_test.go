package widget

import (
	"strings"
	"testing"
	"time"
)

func TestConfigLoadEnv(t *testing.T) {
	f := func(env map[string]string, wantErr string, check func(*Config) bool) {
		t.Helper()
		c := NewDefaultConfig()
		err := c.LoadEnv(func(k string) string { return env[k] })
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("LoadEnv(%v) = %v", env, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("LoadEnv(%v) = %v; want %q", env, err, wantErr)
		case check != nil && !check(&c):
			t.Fatalf("LoadEnv(%v) gave %+v", env, c)
		}
	}
	f(nil, "", func(c *Config) bool { return c.CacheTTL == 2*time.Second && c.MaxWidgetsPerPartner == 200 })
	f(map[string]string{"REFEDGE_WIDGET_CACHE_TTL": "500ms", "REFEDGE_WIDGET_MAX_PER_PARTNER": "5",
		"REFEDGE_WIDGET_LINK_BASE": "https://market.example", "REFEDGE_WIDGET_THUMB_CACHE_BYTES": "1048576"}, "",
		func(c *Config) bool {
			return c.CacheTTL == 500*time.Millisecond && c.MaxWidgetsPerPartner == 5 && c.LinkBase == "https://market.example" && c.ThumbCacheBytes == 1<<20
		})
	f(map[string]string{"REFEDGE_WIDGET_CACHE_TTL": "soon"}, "REFEDGE_WIDGET_CACHE_TTL: want a duration", nil)
	f(map[string]string{"REFEDGE_WIDGET_VIEW_WINDOW": "-1h"}, "REFEDGE_WIDGET_VIEW_WINDOW", nil)
	f(map[string]string{"REFEDGE_WIDGET_MAX_PER_PARTNER": "0"}, "REFEDGE_WIDGET_MAX_PER_PARTNER: want a whole number from 1 to 100000", nil)
	f(map[string]string{"REFEDGE_WIDGET_LINK_BASE": "https://market.example/path"}, "REFEDGE_WIDGET_LINK_BASE", nil)
	// Every problem at once.
	f(map[string]string{"REFEDGE_WIDGET_MAX_PIXELS": "x", "REFEDGE_WIDGET_MAX_UPLOAD_BYTES": "1"},
		"REFEDGE_WIDGET_MAX_UPLOAD_BYTES: want a whole number from 1024 to 1073741824\nREFEDGE_WIDGET_MAX_PIXELS", nil)
}

func TestConfigValidate(t *testing.T) {
	c := Config{MarketOrigin: "ftp://x", PublicURL: "https://refedge.example/path"}
	err := c.Validate()
	for _, want := range []string{"Redis is required", "REFEDGE_SECRET", "REFEDGE_MARKET_ORIGIN", "REFEDGE_PUBLIC_URL", "Impressions", "Auth", "Partners"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate() = %v; want it to mention %s", err, want)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted an empty config")
	}
}
