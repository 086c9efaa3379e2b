package redisx

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// The Redis Cluster specification's CRC16 reference ("123456789" is 0x31C3) and
// hash-tag rules; the slots are what CLUSTER KEYSLOT of Redis 7.0 answers.
func TestSlot(t *testing.T) {
	f := func(key string, want uint16) {
		t.Helper()
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	f("123456789", 0x31C3&16383)
	f("", 0)
	f("{user1000}.following", Slot("user1000"))
	f("foo", 12182)
	f("bar", 5061)
	f("foo{}{bar}", 8363) // an empty tag: the whole key
	f("foo{{bar}}zap", 4015)
	f("rfe:partner:{bench-1}", 16280)
	f("foo{bar}{zap}", Slot("bar"))
	if Slot("rfe:rl:v:{v:abc}:1") != Slot("rfe:rl:v:{v:abc}:2") {
		t.Error("keys with one hash tag in different slots")
	}
	if IsCluster(redis.NewClient(&redis.Options{})) || !IsCluster(&Client{UniversalClient: redis.NewClusterClient(&redis.ClusterOptions{})}) {
		t.Error("IsCluster")
	}
}
