// Package kafkax runs the embedded Kafka broker used in development and tests, and
// holds the one consumer-group loop refedge's consumers share ([Consumer]).
//
// The broker is franz-go's kfake, a real Kafka-protocol server: refedge's own kafka-go
// clients, kcat and a developer's marketplace stub all talk to it over TCP exactly as
// they would to a cluster. Production points REFEDGE_KAFKA_BROKERS at a real cluster.
package kafkax

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// EmbeddedConfig describes an embedded broker. The zero value listens on a random
// loopback port with 4 partitions per topic and keeps data in memory.
type EmbeddedConfig struct {
	// Addr is host:port to listen on; empty means 127.0.0.1 and a random port.
	Addr string
	// Topics are created at start-up.
	Topics []string
	// Partitions per topic; 0 means 4.
	Partitions int32
	// DataDir, when set, persists the log on disk so a restarted broker keeps its data.
	DataDir string
}

// Embedded is a running in-process broker.
type Embedded struct {
	c *kfake.Cluster
}

// StartEmbedded starts a single-node broker.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	host, port := "127.0.0.1", 0
	if cfg.Addr != "" {
		h, p, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("embedded broker address %q: %w", cfg.Addr, err)
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("embedded broker port %q: %w", p, err)
		}
		if h != "" {
			host = h
		}
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 4
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(int(cfg.Partitions)),
		// kfake always formats 127.0.0.1; listen on the configured host instead.
		kfake.ListenFn(func(network, addr string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(addr)
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
	}
	if len(cfg.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(cfg.Partitions, cfg.Topics...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot start embedded Kafka broker: %w", err)
	}
	return &Embedded{c: c}, nil
}

// Addrs returns the broker addresses to give clients.
func (e *Embedded) Addrs() []string { return e.c.ListenAddrs() }

// Close stops the broker.
func (e *Embedded) Close() { e.c.Close() }
