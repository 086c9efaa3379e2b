package kafka

import (
	"slices"
	"strings"
	"testing"

	"github.com/refedge/refedge/attribution/event"
)

func TestDefaultSpec(t *testing.T) {
	s := Default()
	var names []string
	for _, tp := range s.Topics {
		names = append(names, tp.Name)
		if tp.ReplicationFactor != 3 || tp.Configs["min.insync.replicas"] != "2" {
			t.Errorf("%s: replication %d, min.insync.replicas %q; want 3 and 2 from the defaults",
				tp.Name, tp.ReplicationFactor, tp.Configs["min.insync.replicas"])
		}
		if tp.Key == "" {
			t.Errorf("%s: no key: the key is what orders the topic", tp.Name)
		}
	}
	// Every topic refedge uses has a spec, and the specs name no other topic.
	for _, n := range event.AllTopics {
		if !slices.Contains(names, n) {
			t.Errorf("topic %s (attribution.AllTopics) has no spec in topics.json", n)
		}
	}
	for _, n := range names {
		if !slices.Contains(event.AllTopics, n) {
			t.Errorf("topics.json specifies %s, which attribution.AllTopics does not list", n)
		}
	}
	att := s.Topics[slices.IndexFunc(s.Topics, func(tp Topic) bool { return tp.Name == event.TopicAttributions })]
	if att.Configs["cleanup.policy"] != "compact" {
		t.Errorf("%s: cleanup.policy %q, want compact (RebuildLedger reads the newest state per user)",
			att.Name, att.Configs["cleanup.policy"])
	}
}

func TestSpecValidation(t *testing.T) {
	f := func(topic, wantErr string) {
		t.Helper()
		_, err := Parse([]byte(`{"defaults": {"replication_factor": 3, "configs": {"min.insync.replicas": "2"}}, "topics": [` + topic + `]}`))
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%s: %v", topic, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%s: error %v, want one containing %q", topic, err, wantErr)
		}
	}
	f(`{"name": "a.b", "owner": "refedge", "key": "k", "partitions": 3, "configs": {"cleanup.policy": "compact"}}`, "")
	f(`{"name": "a b", "owner": "refedge", "key": "k", "partitions": 3}`, `topic "a b": name must match`)
	f(`{"name": "a", "owner": "core", "key": "k", "partitions": 3}`, "owner must be")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 0}`, "partitions must be at least 1")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1, "replication_factor": 1}`, "min.insync.replicas 2 exceeds replication_factor 1")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1, "configs": {"retention.msec": "1"}}`, "config retention.msec: unknown topic config")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1, "configs": {"retention.ms": "7d"}}`, "config retention.ms")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1, "configs": {"cleanup.policy": "compacted"}}`, "want delete, compact")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1, "configs": {"min.cleanable.dirty.ratio": "1.5"}}`, "must be in (0, 1]")
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1, "colour": "red"}`, `unknown field "colour"`)
	f(`{"name": "a", "owner": "refedge", "key": "k", "partitions": 1}, {"name": "a", "owner": "refedge", "key": "k", "partitions": 1}`, "listed twice")
}
