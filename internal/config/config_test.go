package config

import (
	"strings"
	"testing"

	"github.com/refedge/refedge/internal/envvar"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

var good = []string{
	"REFEDGE_MARKET_ORIGIN", "https://market.example",
	"REFEDGE_SECRET", "0123456789abcdef0123",
	"REFEDGE_CLICKHOUSE_DSN", "clickhouse://127.0.0.1:9000/refedge",
	"REFEDGE_REDIS_URL", "redis://127.0.0.1:6379/0",
	"REFEDGE_KAFKA_BROKERS", "127.0.0.1:9092,127.0.0.2:9092",
}

func TestLoadGood(t *testing.T) {
	c, err := Load(env(good...))
	if err != nil {
		t.Fatal(err)
	}
	if c.MarketOrigin.String() != "https://market.example" || len(c.KafkaBrokers) != 2 || c.EmbeddedKafka() ||
		c.LogFormat != "json" || c.HTTPAddr != ":8080" || len(c.TrustedProxies) == 0 {
		t.Fatalf("%+v", c)
	}
}

// TestLoadErrorsNameTheVariable: every bad value is reported, each message names its
// variable, and no value is echoed (it may be a secret).
func TestLoadErrorsNameTheVariable(t *testing.T) {
	f := func(name, value string) {
		t.Helper()
		kv := append(append([]string(nil), good...), name, value)
		_, err := Load(env(kv...))
		if err == nil {
			t.Fatalf("%s=%q accepted", name, value)
		}
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("%s=%q: error %q does not name the variable", name, value, err)
		}
		if len(value) > 3 && strings.Contains(err.Error(), value) {
			t.Fatalf("%s=%q: error %q echoes the value", name, value, err)
		}
	}
	f("REFEDGE_MARKET_ORIGIN", "market.example")
	f("REFEDGE_MARKET_ORIGIN", "https://market.example/path")
	f("REFEDGE_MARKET_ORIGIN", "https://user:pw@market.example")
	f("REFEDGE_MARKET_ORIGIN", "javascript:alert(1)")
	f("REFEDGE_SECRET", "tooshort-secret")
	f("REFEDGE_SECRET", "0123456789abcdef0123,short")
	f("REFEDGE_CLICKHOUSE_DSN", "http://127.0.0.1:8123")
	f("REFEDGE_KAFKA_BROKERS", "no-port-here")
	f("REFEDGE_HTTP_ADDR", "8080")
	f("REFEDGE_TRUSTED_PROXIES", "10.0.0.0/33")
	f("REFEDGE_DEV", "yes")
	f("REFEDGE_SHUTDOWN_TIMEOUT", "-1s")
	f("REFEDGE_LOG_FORMAT", "xml")
	f("REFEDGE_COOKIE_DOMAIN", "bad domain;")
	f("REFEDGE_ADMIN_TOKENS", "ops:admin:too-short-secret")
	f("REFEDGE_ADMIN_TOKENS", "ops:root:a-long-enough-secret-0123456789")
	f("REFEDGE_ADMIN_TOKENS", "ops:admin:a-long-enough-secret-0123456789,ops:viewer:another-long-secret-0123456789")
	f("REFEDGE_ADMIN_TOKENS", "ops-admin-a-long-enough-secret-0123456789")
}

// TestServeNeedsAdminCredential: outside development serve refuses to start without an
// operator credential, naming the variable; with one, or in development, it may.
func TestServeNeedsAdminCredential(t *testing.T) {
	c, err := Load(env(good...))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ServeRules(); err == nil || !strings.Contains(err.Error(), "REFEDGE_ADMIN_TOKENS") {
		t.Fatalf("no credential: %v", err)
	}
	c, err = Load(env(append(append([]string(nil), good...), "REFEDGE_ADMIN_TOKENS", "ops:admin:a-long-enough-secret-0123456789, fraud:viewer:another-long-secret-012345")...))
	if err != nil || c.ServeRules() != nil || len(c.AdminCredentials) != 2 || c.AdminCredentials[1].Name != "fraud" {
		t.Fatalf("%v %+v", err, c.AdminCredentials)
	}
	c, err = Load(env(append(append([]string(nil), good...), "REFEDGE_DEV", "1")...))
	if err != nil || c.ServeRules() != nil {
		t.Fatalf("dev: %v", err)
	}
}

func TestLoadCollectsEveryError(t *testing.T) {
	_, err := Load(env())
	for _, name := range []string{"REFEDGE_MARKET_ORIGIN", "REFEDGE_SECRET", "REFEDGE_CLICKHOUSE_DSN", "REFEDGE_REDIS_URL", "REFEDGE_KAFKA_BROKERS"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("empty environment: error %v does not mention %s", err, name)
		}
	}
}

func TestDevAllowsEmbedded(t *testing.T) {
	c, err := Load(env("REFEDGE_DEV", "1", "REFEDGE_MARKET_ORIGIN", "http://localhost:8090",
		"REFEDGE_SECRET", "0123456789abcdef0123", "REFEDGE_CLICKHOUSE_DSN", "clickhouse://127.0.0.1:19000/refedge"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.EmbeddedKafka() || c.RedisURL != "" || c.LogFormat != "text" {
		t.Fatalf("%+v", c)
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	h := envvar.Help(Vars.Docs())
	for _, v := range Vars.Vars {
		if !strings.Contains(h, v.Name) {
			t.Errorf("--help lacks %s", v.Name)
		}
	}
}
