package ledger

import (
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

func TestConfigLoadEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	// ConfigFromEnv is what serve does: the defaults, the variables, then Validate.
	ConfigFromEnv := func(getenv func(string) string) (Config, error) {
		c := NewDefaultConfig()
		if err := c.LoadEnv(getenv); err != nil {
			return c, err
		}
		return c, c.Validate()
	}
	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Group != "refedge-ledger" || c.MaxBatch != 1000 || c.ParkTTL != 7*24*time.Hour || c.Rules == nil ||
		c.Topics.Orders != event.TopicOrders || c.KeyPrefix != "rfe:" {
		t.Errorf("defaults: %+v", c)
	}
	c, err = ConfigFromEnv(env(map[string]string{"REFEDGE_RULES_FILE": "../../deploy/rules.json", "REFEDGE_LEDGER_BATCH": "50"}))
	if err != nil || c.MaxBatch != 50 || c.Rules.RevenueShareAt(time.Now()).BuyerRateBP != 350 {
		t.Errorf("from env: %+v, %v", c, err)
	}
	_, err = ConfigFromEnv(env(map[string]string{"REFEDGE_LEDGER_BATCH": "many", "REFEDGE_LEDGER_PARK_TTL": "a week"}))
	for _, want := range []string{"REFEDGE_LEDGER_BATCH", "REFEDGE_LEDGER_PARK_TTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	_, err = ConfigFromEnv(env(map[string]string{"REFEDGE_RULES_FILE": "/nonexistent/rules.json"}))
	if err == nil || !strings.Contains(err.Error(), "REFEDGE_RULES_FILE") {
		t.Errorf("missing rules file: %v", err)
	}
	if _, err := New(Config{}, nil, nil, "", nil, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "REFEDGE_REDIS_URL") || !strings.Contains(err.Error(), "REFEDGE_KAFKA_BROKERS") ||
		!strings.Contains(err.Error(), "REFEDGE_SECRET") {
		t.Errorf("New without dependencies: %v", err)
	}
}
