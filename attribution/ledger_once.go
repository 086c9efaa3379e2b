package attribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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
// them. So an attempt first records where the output partitions end (its "mark") and
// claims its entries with the mark and a lease:
//   - an entry no longer in the outbox was produced and cleared by someone else: skip it;
//   - an entry claimed under a live lease by another attempt (a rebalance handed the
//     input to us while its old owner is still finishing): try the batch again later;
//   - an entry claimed by an attempt that is gone (lease over) or by our own failed try:
//     read the output partitions from that attempt's mark on, and leave out the events
//     already there (event ids derive from the entry, so they are recognisable).
//
// Kafka transactions would do this too; kafka-go has none. What remains is an attempt
// that stalls longer than its lease and then produces: its events then appear twice,
// with the same ids and keys.

// errLater marks a batch that is fine but must wait: the consumer retries it shortly,
// without counting it as a failure.
var errLater = errors.New("try again shortly")

// claimScript claims outbox entries for one attempt. ARGV: the mark ("id|lease until
// ms"), now (ms), then per entry its id and the id of the caller's own earlier mark ("").
// Returns {"busy", id, claim}, or {"ok", id, previous mark, ...} for the entries still in the
// outbox, which it has claimed.
var claimScript = redis.NewScript(`
local res = {'ok'}
for i = 3, #ARGV, 2 do
  local id, mine = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[1], id) == 1 then
    local cur = redis.call('HGET', KEYS[1], '~' .. id)
    if cur then
      local sep = string.find(cur, '|', 1, true)
      if sep and string.sub(cur, 1, sep - 1) ~= mine and tonumber(string.sub(cur, sep + 1)) > tonumber(ARGV[2]) then
        return {'busy', id, cur}
      end
    end
    res[#res + 1] = id
    res[#res + 1] = cur or ''
  end
end
for i = 2, #res, 2 do redis.call('HSET', KEYS[1], '~' .. res[i], ARGV[1]) end
return res`)

// releaseScript undoes a claim that could not be completed for every user: ARGV is
// the claim, then per entry its id and the claim it replaced (restored; "" deletes).
var releaseScript = redis.NewScript(`
for i = 2, #ARGV, 2 do
  local k = '~' .. ARGV[i]
  if redis.call('HGET', KEYS[1], k) == ARGV[1] then
    if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], k) else redis.call('HSET', KEYS[1], k, ARGV[i + 1]) end
  end
end
return 0`)

func markID(mark string) string {
	id, _, _ := strings.Cut(mark, "|")
	return id
}

// produceOnce produces entries, except those produced already. It updates the entries'
// marks in place, so that a retry after a failure checks what the failed try produced.
func (l *ledger) produceOnce(ctx context.Context, entries []outEntry) error {
	if len(entries) == 0 {
		return nil
	}
	ends, err := l.out.ends(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(ends)
	if err != nil {
		return err
	}
	mark := NewEventID(time.Now())
	if err := l.rdb.Set(ctx, l.k.sending(mark), b, l.parkTTL).Err(); err != nil {
		return fmt.Errorf("cannot record the output ends: %w", err)
	}
	until := time.Now().Add(l.lease)
	send, prev, err := l.claim(ctx, entries, mark, until)
	if err != nil {
		return err
	}
	if len(prev) > 0 {
		seen, err := l.alreadyProduced(ctx, prev, ends)
		if err != nil {
			return err
		}
		kept := send[:0]
		for _, e := range send {
			if seen[e.eventID()] {
				ledgerRecovered.Inc()
				continue
			}
			kept = append(kept, e)
		}
		send = kept
		// The check took time: renew the lease before producing.
		until = time.Now().Add(l.lease)
		if _, _, err := l.claim(ctx, send, mark, until); err != nil {
			return err
		}
	}
	// Stop well before the lease ends: after it, another attempt may take over.
	pctx, cancel := context.WithDeadline(ctx, until.Add(-l.lease/2))
	defer cancel()
	return l.out.produce(pctx, send)
}

// claim claims entries for the attempt mark until the given time. It returns the
// entries still in their outbox, and the earlier attempts that had claimed some of them.
func (l *ledger) claim(ctx context.Context, entries []outEntry, mark string, until time.Time) ([]outEntry, map[string]bool, error) {
	full := mark + "|" + itoa64(until.UnixMilli())
	byUser := map[string][]int{}
	var users []string
	for i := range entries {
		u := entries[i].user
		if byUser[u] == nil {
			users = append(users, u)
		}
		byUser[u] = append(byUser[u], i)
	}
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(users))
	now := time.Now().UnixMilli()
	for n, u := range users {
		args := []any{full, now}
		for _, i := range byUser[u] {
			mine := ""
			if entries[i].owned {
				mine = markID(entries[i].mark)
			}
			args = append(args, entries[i].id, mine)
		}
		cmds[n] = claimScript.EvalSha(ctx, pipe, []string{l.k.out(u)}, args...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		if isNoScript(err) {
			_ = loadScripts(ctx, l.rdb)
		}
		return nil, nil, fmt.Errorf("cannot claim %d events to produce: %w", len(entries), err)
	}
	present := map[string]string{} // user \x00 id -> earlier claim
	var busy error
	claimed := map[string][]any{} // user -> id, earlier claim, ...: what to release on failure
	for n, u := range users {
		res, err := cmds[n].StringSlice()
		if err != nil || len(res) == 0 {
			busy = errors.Join(busy, fmt.Errorf("cannot claim events of %s: %v", u, err))
			continue
		}
		if res[0] == "busy" {
			if busy == nil {
				busy = fmt.Errorf("%w: another attempt (%s) is producing events of %s", errLater, strings.Join(res[1:], " "), u)
			}
			continue
		}
		for i := 1; i+1 < len(res); i += 2 {
			present[u+"\x00"+res[i]] = res[i+1]
			claimed[u] = append(claimed[u], res[i], res[i+1])
		}
	}
	if busy != nil {
		// All or nothing: two attempts holding part each would wait on each other.
		pipe := l.rdb.Pipeline()
		for u, args := range claimed {
			releaseScript.EvalSha(ctx, pipe, []string{l.k.out(u)}, append([]any{full}, args...)...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, nil, errors.Join(busy, fmt.Errorf("cannot release a partial claim: %w", err))
		}
		return nil, nil, busy
	}
	send := make([]outEntry, 0, len(entries))
	prev := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		p, ok := present[e.user+"\x00"+e.id]
		e.mark, e.owned = full, true
		if !ok {
			continue // produced and cleared by another attempt
		}
		if p != "" && markID(p) != mark {
			prev[markID(p)] = true
		}
		send = append(send, *e)
	}
	return send, prev, nil
}

// alreadyProduced returns the ids of the events on the output topics between the
// earliest of marks and to. A mark that has expired is ignored: its entries are produced
// again (at least once beats never).
func (l *ledger) alreadyProduced(ctx context.Context, marks map[string]bool, to map[string]map[int]int64) (map[string]bool, error) {
	pipe := l.rdb.Pipeline()
	var cmds []*redis.StringCmd
	for m := range marks {
		cmds = append(cmds, pipe.Get(ctx, l.k.sending(m)))
	}
	_, _ = pipe.Exec(ctx) // a missing mark is a redis.Nil, skipped below
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
	for topic, parts := range from {
		for p, off := range parts {
			err := scanPartition(ctx, l.out.brokers, topic, p, off, to[topic][p], func(m kafka.Message) error {
				var env struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(m.Value, &env) == nil {
					seen[env.ID] = true
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("cannot check what an earlier attempt produced: %w", err)
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
