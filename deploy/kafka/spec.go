package kafka

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
)

//go:embed topics.json
var topicsJSON []byte

// Spec is the set of topics refedge uses.
type Spec struct {
	Comment  string   `json:"comment,omitempty"`
	Defaults Defaults `json:"defaults"`
	Topics   []Topic  `json:"topics"`
}

// Defaults apply to every topic that does not set its own value.
type Defaults struct {
	ReplicationFactor int               `json:"replication_factor"`
	Configs           map[string]string `json:"configs"`
}

// Topic is one topic's spec.
type Topic struct {
	Name string `json:"name"`
	// Owner is "refedge" (refedge produces it) or "marketplace" (the core produces it and
	// refedge consumes it).
	Owner string `json:"owner"`
	// Key says what the message key is: it fixes the ordering the topic guarantees.
	Key     string `json:"key"`
	Comment string `json:"comment,omitempty"`
	// Partitions is fixed at creation.
	Partitions int `json:"partitions"`
	// ReplicationFactor; 0 takes Defaults.ReplicationFactor.
	ReplicationFactor int `json:"replication_factor,omitempty"`
	// Configs are topic-level configs; Defaults.Configs fill the names not set here.
	Configs map[string]string `json:"configs"`
}

// Default returns the embedded deploy/kafka/topics.json.
func Default() Spec {
	s, err := Parse(topicsJSON)
	if err != nil {
		panic("deploy/kafka/topics.json: " + err.Error()) // a test guards the embedded file
	}
	return s
}

// Parse decodes and validates a spec, filling every topic from the defaults.
func Parse(b []byte) (Spec, error) {
	var s Spec
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("cannot decode topic specs: %w", err)
	}
	for i := range s.Topics {
		t := &s.Topics[i]
		if t.ReplicationFactor == 0 {
			t.ReplicationFactor = s.Defaults.ReplicationFactor
		}
		c := maps.Clone(s.Defaults.Configs)
		if c == nil {
			c = map[string]string{}
		}
		maps.Copy(c, t.Configs)
		t.Configs = c
	}
	return s, s.Validate()
}

var topicNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// knownConfigs are the topic configs a spec may set, with their kind of value; a typo in
// a name would otherwise be rejected only by the broker, at deploy time.
var knownConfigs = map[string]string{
	"cleanup.policy":                 "policy",
	"retention.ms":                   "int",
	"retention.bytes":                "int",
	"segment.ms":                     "int",
	"segment.bytes":                  "int",
	"min.insync.replicas":            "int",
	"min.compaction.lag.ms":          "int",
	"max.compaction.lag.ms":          "int",
	"delete.retention.ms":            "int",
	"max.message.bytes":              "int",
	"min.cleanable.dirty.ratio":      "ratio",
	"unclean.leader.election.enable": "bool",
	"compression.type":               "compression",
	"message.timestamp.type":         "timestamp",
}

// Validate checks every topic; messages name the topic and the field.
func (s *Spec) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, t := range s.Topics {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("topic %q: "+format, append([]any{t.Name}, a...)...))
		}
		if !topicNameRE.MatchString(t.Name) {
			bad("name must match %s", topicNameRE)
		}
		if seen[t.Name] {
			bad("listed twice")
		}
		seen[t.Name] = true
		if t.Owner != "refedge" && t.Owner != "marketplace" {
			bad("owner must be refedge or marketplace")
		}
		if t.Partitions < 1 {
			bad("partitions must be at least 1")
		}
		if t.ReplicationFactor < 1 {
			bad("replication_factor must be at least 1")
		}
		if v, err := strconv.Atoi(t.Configs["min.insync.replicas"]); err == nil && v > t.ReplicationFactor {
			bad("min.insync.replicas %d exceeds replication_factor %d: no write could ever be acknowledged", v, t.ReplicationFactor)
		}
		for name, v := range t.Configs {
			if err := checkConfig(name, v); err != nil {
				bad("config %s: %v", name, err)
			}
		}
	}
	if len(s.Topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	return errors.Join(errs...)
}

func checkConfig(name, v string) error {
	kind, ok := knownConfigs[name]
	if !ok {
		return errors.New("unknown topic config (add it to knownConfigs in deploy/kafka/spec.go if it is real)")
	}
	var err error
	switch kind {
	case "int":
		_, err = strconv.ParseInt(v, 10, 64)
	case "ratio":
		var f float64
		if f, err = strconv.ParseFloat(v, 64); err == nil && (f <= 0 || f > 1) {
			err = errors.New("must be in (0, 1]")
		}
	case "bool":
		_, err = strconv.ParseBool(v)
	case "policy":
		switch v {
		case "delete", "compact", "compact,delete", "delete,compact":
		default:
			err = errors.New("want delete, compact or compact,delete")
		}
	case "compression":
		switch v {
		case "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd":
		default:
			err = errors.New("want producer, uncompressed, gzip, snappy, lz4 or zstd")
		}
	case "timestamp":
		if v != "CreateTime" && v != "LogAppendTime" {
			err = errors.New("want CreateTime or LogAppendTime")
		}
	}
	return err
}
