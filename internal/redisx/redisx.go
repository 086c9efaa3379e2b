// Package redisx opens the Redis client refedge shares between its parts: a single node
// from a redis:// URL, Redis Cluster from comma-separated seeds, or in development an
// embedded miniredis. Callers get a redis.UniversalClient and never care which.
package redisx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Client is an open Redis connection and whatever must be closed with it.
type Client struct {
	redis.UniversalClient
	// Embedded is non-nil when the client talks to an in-process miniredis.
	Embedded *miniredis.Miniredis
}

// Close closes the client and the embedded server, if any.
func (c *Client) Close() error {
	err := c.UniversalClient.Close()
	if c.Embedded != nil {
		c.Embedded.Close()
	}
	return err
}

// Open connects to url. An empty url with dev set starts an embedded miniredis.
func Open(url string, dev bool) (*Client, error) {
	switch {
	case url == "" && dev:
		m, err := miniredis.Run()
		if err != nil {
			return nil, fmt.Errorf("cannot start embedded Redis: %w", err)
		}
		return guarded(&Client{UniversalClient: redis.NewClient(tuned(&redis.Options{Addr: m.Addr()})), Embedded: m}), nil
	case url == "":
		return nil, errors.New("no Redis URL")
	case strings.HasPrefix(url, "redis://") || strings.HasPrefix(url, "rediss://"):
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("cannot parse Redis URL: %w", err)
		}
		return guarded(&Client{UniversalClient: redis.NewClient(tuned(opts))}), nil
	default:
		var seeds []string
		for _, s := range strings.Split(url, ",") {
			if s = strings.TrimSpace(s); s != "" {
				seeds = append(seeds, s)
			}
		}
		return guarded(&Client{UniversalClient: redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:              seeds,
			DialTimeout:        2 * time.Second,
			ReadTimeout:        500 * time.Millisecond,
			WriteTimeout:       500 * time.Millisecond,
			PoolTimeout:        time.Second,
			DialerRetries:      1,
			DialerRetryTimeout: 50 * time.Millisecond,
		})}), nil
	}
}

// goRedisLog sends go-redis's own messages ("failed to dial after 1 attempts", one per
// connection attempt) to the debug level of the process's logger: outages are reported
// by the circuit breaker, the degraded counters and /readyz, not by a line per dial.
type goRedisLog struct{}

func (goRedisLog) Printf(_ context.Context, format string, v ...any) {
	slog.Default().Debug("go-redis: " + fmt.Sprintf(format, v...))
}

func init() { redis.SetLogger(goRedisLog{}) }

// guarded puts the client behind a circuit breaker (breaker.go).
func guarded(c *Client) *Client {
	c.AddHook(newBreaker(BreakerConfig{}))
	return c
}

// tuned sets timeouts suited to the click path: a click waits on Redis at most once, so
// a slow Redis must fail fast rather than hold the visitor.
func tuned(o *redis.Options) *redis.Options {
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 500 * time.Millisecond
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 500 * time.Millisecond
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = time.Second
	}
	// One dial retry: go-redis's default (5 at 100 ms) would hold each click for half a
	// second during a Redis outage before the edge degrades.
	if o.DialerRetries == 0 {
		o.DialerRetries = 1
		o.DialerRetryTimeout = 50 * time.Millisecond
	}
	return o
}

// Check reports whether Redis answers a PING within d.
func (c *Client) Check(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.UniversalClient.Ping(ctx).Err()
}
