package attribution

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"
)

// Effectively-once output.
//
// A script's events wait in the referral's outbox until Kafka acknowledged them; a
// crash before the outbox is cleared makes the redelivered input return them again. If
// the crash came after Kafka's acknowledgement, producing them again would duplicate
// them. So before producing, an attempt records where the output partitions ended (a
// "mark"), and tags its entries with the mark; an attempt that finds entries tagged by an
// earlier one reads the output partitions from that mark on and leaves out the events
// already there (event ids are derived from the entry, so they are recognisable).
// Kafka transactions would do this too; kafka-go has none.

// produceOnce produces entries, except those an earlier attempt already produced. It
// marks entries in place, so that a retry of the same entries after a failure checks
// what the failed attempt managed to produce.
func (l *ledger) produceOnce(ctx context.Context, entries []outEntry) error {
	if len(entries) == 0 {
		return nil
	}
	send := entries
	if slices.ContainsFunc(entries, func(e outEntry) bool { return e.mark != "" }) {
		seen, err := l.alreadyProduced(ctx, entries)
		if err != nil {
			return err
		}
		send = make([]outEntry, 0, len(entries))
		for _, e := range entries {
			if e.mark != "" && seen[e.eventID()] {
				ledgerRecovered.Inc()
				continue
			}
			send = append(send, e)
		}
		if len(send) == 0 {
			return nil
		}
	}
	mark, err := l.markSending(ctx, send)
	if err != nil {
		return err
	}
	for i := range entries {
		entries[i].mark = mark
	}
	return l.out.produce(ctx, send)
}

// markSending records the output topics' ends and tags entries with them.
func (l *ledger) markSending(ctx context.Context, entries []outEntry) (string, error) {
	ends, err := l.out.ends(ctx)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(ends)
	if err != nil {
		return "", err
	}
	mark := NewEventID(time.Now())
	pipe := l.rdb.Pipeline()
	pipe.Set(ctx, l.k.sending(mark), b, l.parkTTL)
	for _, e := range entries {
		pipe.HSet(ctx, l.k.out(e.user), "~"+e.id, mark)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("cannot mark %d events as being produced: %w", len(entries), err)
	}
	return mark, nil
}

// alreadyProduced returns the ids of the events on the output topics since the earliest
// mark among entries. A mark that has expired is ignored: its entries are produced again
// (at least once beats never).
func (l *ledger) alreadyProduced(ctx context.Context, entries []outEntry) (map[string]bool, error) {
	pipe := l.rdb.Pipeline()
	cmds := map[string]*redis.StringCmd{}
	for _, e := range entries {
		if e.mark != "" && cmds[e.mark] == nil {
			cmds[e.mark] = pipe.Get(ctx, l.k.sending(e.mark))
		}
	}
	_, _ = pipe.Exec(ctx) // a missing mark is a redis.Nil, handled below
	from := map[string]map[int]int64{}
	for _, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue
		}
		var ends map[string]map[int]int64
		if json.Unmarshal(b, &ends) != nil {
			continue
		}
		for topic, parts := range ends {
			if from[topic] == nil {
				from[topic] = map[int]int64{}
			}
			for p, off := range parts {
				if cur, ok := from[topic][p]; !ok || off < cur {
					from[topic][p] = off
				}
			}
		}
	}
	seen := map[string]bool{}
	if len(from) == 0 {
		return seen, nil
	}
	to, err := l.out.ends(ctx)
	if err != nil {
		return nil, err
	}
	for topic, parts := range from {
		for p, off := range parts {
			end := to[topic][p]
			if end <= off {
				continue
			}
			err := scanPartition(ctx, l.out.brokers, topic, p, off, end, func(m kafka.Message) error {
				var env struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(m.Value, &env) == nil {
					seen[env.ID] = true
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("cannot check what a crashed attempt produced: %w", err)
			}
		}
	}
	return seen, nil
}

// outputEnds caches the output topics' partitions and lists their ends.
type outputEnds struct {
	mu      sync.Mutex
	parts   map[string][]int
	fetched time.Time
}

// ends returns the next offset of every partition of the attributions and commissions
// topics.
func (w *ledgerWriters) ends(ctx context.Context) (map[string]map[int]int64, error) {
	topics := []string{w.attributions.Topic, w.commissions.Topic}
	w.cache.mu.Lock()
	parts := w.cache.parts
	if parts == nil || time.Since(w.cache.fetched) > time.Minute {
		md, err := w.client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		if err != nil {
			w.cache.mu.Unlock()
			return nil, fmt.Errorf("cannot read output topic metadata: %w", err)
		}
		parts = map[string][]int{}
		for _, t := range md.Topics {
			if t.Error != nil {
				w.cache.mu.Unlock()
				return nil, fmt.Errorf("output topic %s: %w", t.Name, t.Error)
			}
			for _, p := range t.Partitions {
				parts[t.Name] = append(parts[t.Name], p.ID)
			}
		}
		w.cache.parts, w.cache.fetched = parts, time.Now()
	}
	w.cache.mu.Unlock()
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for t, ps := range parts {
		for _, p := range ps {
			req.Topics[t] = append(req.Topics[t], kafka.LastOffsetOf(p))
		}
	}
	res, err := w.client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("cannot list output topic offsets: %w", err)
	}
	out := map[string]map[int]int64{}
	for t, pos := range res.Topics {
		out[t] = map[int]int64{}
		for _, po := range pos {
			if po.Error != nil {
				return nil, fmt.Errorf("output topic %s partition %d: %w", t, po.Partition, po.Error)
			}
			out[t][po.Partition] = po.LastOffset
		}
	}
	return out, nil
}
