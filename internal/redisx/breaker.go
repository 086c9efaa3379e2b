package redisx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// BreakerConfig configures the circuit breaker every refedge Redis client carries.
type BreakerConfig struct {
	// Failures is how many consecutive failed round trips open the circuit; 0 means 5.
	Failures uint32
	// Open is how long an open circuit refuses calls before one probe may pass;
	// 0 means 1 second.
	Open time.Duration
	// Logger receives state changes; nil means slog.Default().
	Logger *slog.Logger
}

// ErrCircuitOpen is returned, without touching the network, while Redis is known to be
// down: callers degrade at once instead of each waiting for a dial or read timeout.
var ErrCircuitOpen = errors.New("redis: circuit open after repeated failures")

var breakerState = promauto.NewGauge(prometheus.GaugeOpts{
	Name: "refedge_redis_circuit_state",
	Help: "State of the Redis circuit breaker: 0 closed, 1 half-open (probing), 2 open (calls refused without a round trip).",
})

// breaker is a go-redis hook: every command and pipeline of the client passes through
// one gobreaker. Only transport failures count (refused or reset connections,
// timeouts); Redis's own answers — a missing key, a WRONGTYPE — are successes, and a
// caller's cancelled context counts as nothing.
type breaker struct {
	cb *gobreaker.TwoStepCircuitBreaker[any]
}

func newBreaker(cfg BreakerConfig) *breaker {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.Open <= 0 {
		cfg.Open = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &breaker{cb: gobreaker.NewTwoStepCircuitBreaker[any](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     cfg.Open,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.Failures },
		IsSuccessful: func(err error) bool {
			return !transportError(err)
		},
		IsExcluded: func(err error) bool {
			return errors.Is(err, context.Canceled) || errors.Is(err, ErrCircuitOpen)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			breakerState.Set(float64(to))
			if to == gobreaker.StateOpen {
				log.Warn("Redis circuit open: calls fail fast until a probe succeeds", "from", from.String(), "probe_after", cfg.Open)
			} else {
				log.Info("Redis circuit state changed", "from", from.String(), "to", to.String())
			}
		},
	})}
}

// transportError reports whether err means Redis could not be reached or did not
// answer in time, as opposed to an answer.
func transportError(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) && !errors.Is(err, net.ErrClosed) {
		// A reply from the server. LOADING and CLUSTERDOWN mean it cannot serve yet.
		return redis.HasErrorPrefix(err, "LOADING") || redis.HasErrorPrefix(err, "CLUSTERDOWN")
	}
	return true
}

func (b *breaker) allow() (func(error), error) {
	done, err := b.cb.Allow()
	if err != nil {
		return nil, ErrCircuitOpen
	}
	return done, nil
}

func (b *breaker) DialHook(next redis.DialHook) redis.DialHook { return next }

// connSetup names the commands go-redis sends on a new connection, inside the call that
// dialled it: they pass ungated and uncounted, or a half-open circuit's one probe would
// be refused by its own set-up.
func connSetup(name string) bool {
	switch name {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}

func (b *breaker) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if connSetup(cmd.Name()) {
			return next(ctx, cmd)
		}
		done, err := b.allow()
		if err != nil {
			cmd.SetErr(err)
			return err
		}
		err = next(ctx, cmd)
		done(err)
		return err
	}
}

func (b *breaker) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && connSetup(cmds[0].Name()) && connSetup(cmds[len(cmds)-1].Name()) {
			return next(ctx, cmds)
		}
		done, err := b.allow()
		if err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		err = next(ctx, cmds)
		done(err)
		return err
	}
}
