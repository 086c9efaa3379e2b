package clustertest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/attribution/ledger"
	"github.com/refedge/refedge/attribution/rules"
	"github.com/refedge/refedge/attribution/simulate"
	"github.com/refedge/refedge/internal/kafkax"
	"github.com/refedge/refedge/internal/partners"
	"github.com/refedge/refedge/internal/signing"
)

// TestRedisClusterLedger runs the referral ledger on the Redis Cluster: a simulated
// marketplace (partners, clicks, signups, kworks, orders, refunds) through the embedded
// broker, one Lua script per referral (hash-tagged by user), order records, partner logs
// and sweeper shards spread over the masters.
func TestRedisClusterLedger(t *testing.T) {
	rdb, cc := openCluster(t)
	b, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{Topics: event.AllTopics})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := b.Addrs()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	keys, err := signing.ParseKeyring("cluster-ledger-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	run := randomHex(4)
	cfg := ledger.Config{Group: "cl-" + run, KeyPrefix: "cltest:" + run + ":", SweepInterval: -1}
	prefix := "clsim-" + run + "-"
	const nPartners = 6
	t.Cleanup(func() { cleanupKeys(t, cc, cfg.KeyPrefix, prefix, nPartners) })
	svc, err := ledger.New(cfg, rdb, nil, "", brokers, keys, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := svc.Stop(sctx); err != nil {
			t.Error(err)
		}
	}()
	reg := &partners.Registry{Redis: rdb}
	rep, err := simulate.Run(ctx, simulate.Config{Brokers: brokers, Keys: keys, Seed: 11, IDPrefix: prefix,
		Partners: nPartners, Users: 150, Sellers: 20, Orders: 800, Days: 300,
		AfterPartners: func(ctx context.Context) error {
			for i := range nPartners {
				id := fmt.Sprintf("%sp%d", prefix, i)
				if err := poll(ctx, func() bool { _, err := reg.Get(ctx, id); return err == nil }); err != nil {
					return fmt.Errorf("partner %s never reached the registry: %w", id, err)
				}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{event.TopicPartners, event.TopicUsers, event.TopicKworks, event.TopicOrders} {
		kind := strings.TrimPrefix(topic, "marketplace.")
		var behind int64
		if err := poll(ctx, func() bool {
			behind, err = GroupBehind(ctx, brokers, cfg.Group+"."+kind, topic)
			return err == nil && behind == 0
		}); err != nil {
			t.Fatalf("ledger did not catch up on %s: %d behind, %v", topic, behind, err)
		}
	}
	if err := svc.Ready(ctx); err != nil {
		t.Errorf("ledger not ready after the run: %v", err)
	}
	msgs, err := ReadTopic(ctx, brokers, event.TopicCommissions)
	if err != nil {
		t.Fatal(err)
	}
	accrued, reversed := 0, 0
	seen := map[string]bool{}
	for _, m := range msgs {
		var env struct {
			Type    string                  `json:"type"`
			Payload event.CommissionPayload `json:"payload"`
		}
		if err := json.Unmarshal(m.Value, &env); err != nil {
			t.Fatal(err)
		}
		if seen[env.Payload.Key] {
			t.Errorf("commission %s produced twice", env.Payload.Key)
		}
		seen[env.Payload.Key] = true
		switch env.Type {
		case event.TypeCommissionAccrued:
			accrued++
			if p := env.Payload; p.Role != event.RoleMilestone && p.Amount != rules.ApplyRate(p.BaseAmount, p.RateBP, rules.RoundHalfUp) {
				t.Errorf("%s: %d × %d bp = %d", p.Key, p.BaseAmount, p.RateBP, p.Amount)
			}
		case event.TypeCommissionReversed:
			reversed++
		}
	}
	dead, err := TopicEnds(ctx, brokers, event.TopicDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	for p, n := range dead {
		if n != 0 {
			t.Errorf("dead letters on partition %d: %d", p, n)
		}
	}
	if accrued < 50 || reversed == 0 {
		t.Errorf("too little happened on the cluster: %d accrued, %d reversed (%+v)", accrued, reversed, rep)
	}
	t.Logf("%+v: %d accrued, %d reversed", rep, accrued, reversed)
}

// poll calls cond until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// cleanupKeys deletes the ledger's keys (under prefix) from every master, and the
// simulated partners' registry entries.
func cleanupKeys(t *testing.T, cc *redis.ClusterClient, keyPrefix, idPrefix string, nPartners int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		iter := m.Scan(ctx, 0, keyPrefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			m.Unlink(ctx, iter.Val())
		}
		return iter.Err()
	})
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for i := range nPartners {
		id := fmt.Sprintf("%sp%d", idPrefix, i)
		cc.Unlink(ctx, partners.Key(id), partners.VisitorsKey(id))
	}
}
