package kafka

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/refedge/refedge/internal/kafkax"
)

func TestEnsureOnEmbeddedBroker(t *testing.T) {
	b, err := kafkax.StartEmbedded(kafkax.EmbeddedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	spec := Default()
	// One broker: the development override of the replication factor.
	res, err := Ensure(ctx, b.Addrs(), spec, Options{ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Action != "created" {
			t.Errorf("%s: %s %v, want created", r.Topic, r.Action, r.Drift)
		}
	}
	// Again: everything exists and matches.
	res, err = Ensure(ctx, b.Addrs(), spec, Options{ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Action != "ok" {
			t.Errorf("second run: %s: %s %v, want ok", r.Topic, r.Action, r.Drift)
		}
	}
	// What the broker reports is what the spec says.
	client := &kafkago.Client{Addr: kafkago.TCP(b.Addrs()...)}
	desc, err := client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: "referral.attributions", ConfigNames: []string{"cleanup.policy", "min.insync.replicas"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range desc.Resources[0].ConfigEntries {
		got[e.ConfigName] = e.ConfigValue
	}
	if got["cleanup.policy"] != "compact" || got["min.insync.replicas"] != "1" {
		t.Errorf("referral.attributions configs %v, want cleanup.policy=compact and min.insync.replicas capped at 1", got)
	}
}

func TestEnsureOnThreeBrokersAndDrift(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	brokers := c.ListenAddrs()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...)}
	// An operator created referral.clicks by hand, with too few partitions.
	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{
		{Topic: "referral.clicks", NumPartitions: 2, ReplicationFactor: 3}}})
	if err != nil || resp.Errors["referral.clicks"] != nil {
		t.Fatal(err, resp)
	}
	spec := Default()
	// Check mode creates nothing.
	res, err := Ensure(ctx, brokers, spec, Options{Check: true, Owners: []string{"refedge"}})
	if err != nil {
		t.Fatal(err)
	}
	owned := 0
	for _, tp := range spec.Topics {
		if tp.Owner == "refedge" {
			owned++
		}
	}
	if len(res) != owned || owned < 5 {
		t.Fatalf("owner refedge: %d topics, want the spec's %d: %+v", len(res), owned, res)
	}
	for _, r := range res {
		want := "missing"
		if r.Topic == "referral.clicks" {
			want = "drift"
		}
		if r.Action != want {
			t.Errorf("check: %s: %s %v, want %s", r.Topic, r.Action, r.Drift, want)
		}
	}
	res, err = Ensure(ctx, brokers, spec, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		switch {
		case r.Topic == "referral.clicks":
			if r.Action != "drift" || len(r.Drift) == 0 || r.Drift[0] != "partitions 2, spec 24" {
				t.Errorf("referral.clicks: %s %q, want drift on partitions", r.Topic, r.Drift)
			}
		case r.Action != "created":
			t.Errorf("%s: %s %v, want created", r.Topic, r.Action, r.Drift)
		}
	}
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{"referral.commissions"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := meta.Topics[0].Partitions; len(p) != 12 || len(p[0].Replicas) != 3 {
		t.Errorf("referral.commissions: %d partitions with %d replicas, want 12 with 3", len(p), len(p[0].Replicas))
	}
}
