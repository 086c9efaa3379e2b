package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// Options configures Ensure.
type Options struct {
	// ReplicationFactor, when positive, replaces every topic's: a development broker has
	// one node. min.insync.replicas is capped at it.
	ReplicationFactor int
	// Owners limits Ensure to the topics of these owners; empty means every topic.
	Owners []string
	// Check creates nothing: missing topics are reported like drift.
	Check bool
	// Timeout bounds each request to the cluster; 0 means 30s.
	Timeout time.Duration
}

// Result is what Ensure found or did for one topic.
type Result struct {
	Topic string
	// Action is "created", "ok", "missing" (Check only) or "drift".
	Action string
	// Drift lists how an existing topic differs from its spec.
	Drift []string
}

// Ensure creates the topics of spec that brokers lack and compares the others with
// their spec. It returns one result per topic; err is set when the cluster could not be
// asked or refused a creation. Drift is reported, never corrected.
func Ensure(ctx context.Context, brokers []string, spec Spec, opts Options) ([]Result, error) {
	if len(brokers) == 0 {
		return nil, errors.New("no brokers")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: opts.Timeout}
	want := effective(spec, opts)
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{})
	if err != nil {
		return nil, fmt.Errorf("cannot read cluster metadata: %w", err)
	}
	have := map[string]kafkago.Topic{}
	for _, t := range meta.Topics {
		if t.Error == nil {
			have[t.Name] = t
		}
	}
	var create []kafkago.TopicConfig
	results := make([]Result, len(want))
	for i, t := range want {
		results[i] = Result{Topic: t.Name, Action: "ok"}
		if _, ok := have[t.Name]; ok {
			continue
		}
		if opts.Check {
			results[i].Action = "missing"
			continue
		}
		tc := kafkago.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: t.ReplicationFactor}
		for _, name := range sortedKeys(t.Configs) {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: name, ConfigValue: t.Configs[name]})
		}
		create = append(create, tc)
		results[i].Action = "created"
	}
	if len(create) > 0 {
		resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: create})
		if err != nil {
			return results, fmt.Errorf("cannot create %d topics: %w", len(create), err)
		}
		var errs []error
		for name, e := range resp.Errors {
			switch {
			case e == nil:
			case errors.Is(e, kafkago.TopicAlreadyExists):
				// Another job created it meanwhile; compare it below like any other.
				for i := range results {
					if results[i].Topic == name {
						results[i].Action = "ok"
					}
				}
			default:
				errs = append(errs, fmt.Errorf("cannot create topic %s: %w", name, e))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return results, err
		}
	}
	if err := compare(ctx, client, want, results); err != nil {
		return results, err
	}
	return results, nil
}

// effective applies opts to spec's topics.
func effective(spec Spec, opts Options) []Topic {
	var out []Topic
	for _, t := range spec.Topics {
		if len(opts.Owners) > 0 && !slices.Contains(opts.Owners, t.Owner) {
			continue
		}
		t.Configs = cloneMap(t.Configs)
		if opts.ReplicationFactor > 0 {
			t.ReplicationFactor = opts.ReplicationFactor
			if v := t.Configs["min.insync.replicas"]; v != "" && atoi(v) > opts.ReplicationFactor {
				t.Configs["min.insync.replicas"] = fmt.Sprint(opts.ReplicationFactor)
			}
		}
		out = append(out, t)
	}
	return out
}

// compare fills the drift of the topics results says exist (ok or just created).
func compare(ctx context.Context, client *kafkago.Client, want []Topic, results []Result) error {
	var names []string
	for _, r := range results {
		if r.Action == "ok" || r.Action == "created" {
			names = append(names, r.Topic)
		}
	}
	if len(names) == 0 {
		return nil
	}
	// A topic just created may take a moment to reach every broker's metadata.
	byName := map[string]kafkago.Topic{}
	for deadline := time.Now().Add(10 * time.Second); ; {
		meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: names})
		if err != nil {
			return fmt.Errorf("cannot read topic metadata: %w", err)
		}
		complete := true
		for _, t := range meta.Topics {
			byName[t.Name] = t
			complete = complete && t.Error == nil && len(t.Partitions) > 0
		}
		if complete || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	req := &kafkago.DescribeConfigsRequest{}
	for _, t := range want {
		if slices.Contains(names, t.Name) {
			req.Resources = append(req.Resources, kafkago.DescribeConfigRequestResource{
				ResourceType: kafkago.ResourceTypeTopic, ResourceName: t.Name, ConfigNames: sortedKeys(t.Configs)})
		}
	}
	desc, err := client.DescribeConfigs(ctx, req)
	if err != nil {
		return fmt.Errorf("cannot describe topic configs: %w", err)
	}
	got := map[string]map[string]string{}
	for _, r := range desc.Resources {
		if r.Error != nil {
			return fmt.Errorf("cannot describe topic %s: %w", r.ResourceName, r.Error)
		}
		got[r.ResourceName] = map[string]string{}
		for _, e := range r.ConfigEntries {
			got[r.ResourceName][e.ConfigName] = e.ConfigValue
		}
	}
	for i := range results {
		r := &results[i]
		if r.Action != "ok" && r.Action != "created" {
			continue
		}
		t := want[slices.IndexFunc(want, func(t Topic) bool { return t.Name == r.Topic })]
		m := byName[r.Topic]
		if len(m.Partitions) != t.Partitions {
			r.Drift = append(r.Drift, fmt.Sprintf("partitions %d, spec %d", len(m.Partitions), t.Partitions))
		}
		if len(m.Partitions) > 0 && len(m.Partitions[0].Replicas) != t.ReplicationFactor {
			r.Drift = append(r.Drift, fmt.Sprintf("replication factor %d, spec %d", len(m.Partitions[0].Replicas), t.ReplicationFactor))
		}
		for _, name := range sortedKeys(t.Configs) {
			if v, ok := got[r.Topic][name]; !ok || v != t.Configs[name] {
				r.Drift = append(r.Drift, fmt.Sprintf("%s=%q, spec %q", name, v, t.Configs[name]))
			}
		}
		if len(r.Drift) > 0 {
			r.Action = "drift"
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}
