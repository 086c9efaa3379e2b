package ledger

import (
	"context"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/refedge/refedge/attribution/event"
	"github.com/refedge/refedge/internal/kafkax"
)

// dueShards spreads the sweeper's deadline index over several keys (and Cluster slots).
const dueShards = 16

func dueShard(user string) int {
	h := fnv.New32a()
	h.Write([]byte(user))
	return int(h.Sum32() % dueShards)
}

// sweepSrc is the outbox source of every sweep: a sweep that crashed before Kafka
// acknowledged its events is completed by the next one, whatever its time.
const sweepSrc = "sweep"

// sweepLoop runs sweeps until ctx ends.
func (s *Service) sweepLoop(ctx context.Context) {
	defer s.bg.Done()
	every := s.cfg.SweepInterval
	for {
		if !kafkax.Sleep(ctx, every/2+rand.N(every/2+1)) {
			return
		}
		n, err := s.l.sweep(ctx, s.cfg.SweepLateness)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("ledger sweep failed; will retry", "err", err)
		} else if n > 0 {
			s.log.Info("ledger sweep done", "referrals", n)
		}
	}
}

// sweep detaches pending referrals and expires active ones whose deadline has passed in
// event time, for referrals that have had no event since. Event time here is the newest
// occurred_at this process consumed, minus lateness. A fact arriving later still counts:
// an activation inside the window supersedes the detachment (attribution.activated).
func (l *ledger) sweep(ctx context.Context, lateness time.Duration) (int, error) {
	w := l.watermark.Load() - lateness.Milliseconds()
	if w <= 0 {
		return 0, nil
	}
	total := 0
	for shard := 0; shard < dueShards; shard++ {
		for {
			n, err := l.sweepShard(ctx, shard, w)
			total += n
			if err != nil {
				return total, err
			}
			if n < 500 {
				break
			}
		}
	}
	return total, nil
}

func (l *ledger) sweepShard(ctx context.Context, shard int, w int64) (int, error) {
	due := l.k.due(shard)
	users, err := l.rdb.ZRangeByScore(ctx, due, &redis.ZRangeBy{Min: "-inf", Max: "(" + itoa64(w), Count: 500}).Result()
	if err != nil || len(users) == 0 {
		return 0, err
	}
	ev := &inEvent{env: event.Envelope{ID: sweepSrc}}
	ops := make([]*userOp, len(users))
	for i, u := range users {
		c := opCtx{Src: sweepSrc, User: u, PTTL: l.pttl, LTTL: l.lttl, PLog: [][2]string{}, MS: []msParam{}}
		ops[i] = &userOp{op: "tick", user: u, ctx: c, arg: tickArg{T: itoa64(w)}, ev: ev}
	}
	if err := l.k.runOps(ctx, l.rdb, ops); err != nil {
		return 0, err
	}
	entries := collectEntries(ops)
	claimed, err := l.produceOnce(ctx, &entries)
	if err != nil {
		return 0, err
	}
	if err := l.ack(ctx, claimed); err != nil {
		return 0, err
	}
	// Reschedule what is still pending or active; forget the rest.
	pipe := l.rdb.Pipeline()
	for _, o := range ops {
		st, next, _ := strings.Cut(o.outcome, ":")
		ledgerSwept.WithLabelValues(st).Inc()
		if next != "" && atoi64(next) >= w {
			pipe.ZAdd(ctx, due, redis.Z{Score: float64(atoi64(next)), Member: o.user})
		} else {
			pipe.ZRem(ctx, due, o.user)
		}
	}
	_, err = pipe.Exec(ctx)
	return len(users), err
}
