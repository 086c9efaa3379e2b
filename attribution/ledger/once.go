package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/refedge/refedge/attribution/event"
	"github.com/segmentio/kafka-go"
)

// Effectively-once, ordered output.
//
// A script's events wait in the referral's outbox until Kafka acknowledged them; a
// crash before the outbox is cleared makes the redelivered input return them again. If
// the crash came after Kafka's acknowledgement, producing them again would duplicate
// them. And two consumers (users and orders, say) may hold attribution events of one
// referral at once; the later state must not reach the compacted topic first. So an
// attempt first records where the output partitions end (its "mark") and claims, per
// referral, its events and every older attribution event still in the outbox (each
// carries the referral's sequence number), all or nothing, under a lease:
//   - an event no longer in the outbox was produced and cleared already: skip it;
//   - an event claimed under a live lease by another attempt (a rebalance handed the
//     input over while its old owner is still finishing, or another consumer is
//     producing an older event of the referral): retry the batch shortly;
//   - an older attribution event nobody claimed yet is adopted and produced first;
//   - an event claimed by an attempt that is gone (lease over) or by our own failed
//     try: read the output partitions from that attempt's mark on, and leave out the
//     events already there (event ids derive from the entry, so they are recognisable).
//
// Kafka transactions would do much of this; kafka-go has none. What remains is an
// attempt that stalls longer than its lease and then produces: its events then appear
// twice, with the same ids and keys.

// errLater marks a batch that is fine but must wait: the consumer retries it shortly,
// without counting it as a failure.
var errLater = errors.New("try again shortly")

// claimScript claims outbox entries for one attempt. ARGV: the claim ("id|lease until
// ms"), now (ms), then per entry its id and the id of the caller's own earlier claim
// (or ""). It claims the requested entries still in the outbox and, when one of them is
// an attribution event, every older attribution event of the referral (commission
// events of one line already come in order: they follow the order of their input
// partition). Returns {"busy", id, claim}, or {"ok", id, earlier claim, event JSON, ...}
// in sequence order.
var claimScript = redis.NewScript(`
local now = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local ev, claim, seq = {}, {}, {}
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  if string.sub(f, 1, 1) == '~' then
    claim[string.sub(f, 2)] = v
  else
    local json = string.sub(v, string.find(v, '\n', 1, true) + 1)
    ev[f], seq[f] = json, tonumber(string.match(json, '"n":"(%d+)"'))
  end
end
local function attr(id) return string.find(ev[id], '"type":"attribution.', 1, true) ~= nil end
local mine, take, top = {}, {}, -1
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if ev[id] then
    mine[id] = ARGV[i + 1]
    take[#take + 1] = id
    if attr(id) and seq[id] > top then top = seq[id] end
  end
end
for id, s in pairs(seq) do
  if s < top and not mine[id] and attr(id) then take[#take + 1] = id end
end
for _, id in ipairs(take) do
  local c = claim[id]
  if c then
    local sep = string.find(c, '|', 1, true)
    if sep and string.sub(c, 1, sep - 1) ~= (mine[id] or '') and tonumber(string.sub(c, sep + 1)) > now then
      return {'busy', id, c}
    end
  end
end
table.sort(take, function(a, b) return seq[a] < seq[b] end)
local res = {'ok'}
for _, id in ipairs(take) do
  res[#res + 1] = id
  res[#res + 1] = claim[id] or ''
  res[#res + 1] = ev[id]
  redis.call('HSET', KEYS[1], '~' .. id, ARGV[1])
end
return res`)

// releaseScript undoes a claim that could not be completed for every referral: ARGV
// is the claim, then per entry its id and the claim it replaced (restored; "" deletes).
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

// produceOnce produces *entries — and older events of the same referrals still waiting
// — in each referral's order, except those produced already. It returns what it claimed,
// which the caller acknowledges (clears from the outboxes), and leaves the same in
// *entries, claimed, so that a retry after a failure checks what the failed try produced.
func (l *ledger) produceOnce(ctx context.Context, pending *[]outEntry) ([]outEntry, error) {
	entries := *pending
	if len(entries) == 0 {
		return nil, nil
	}
	ends, err := l.out.ends(ctx)
	if err != nil {
		return nil, err
	}
	mark := event.NewEventID(time.Now())
	if err := l.recordEnds(ctx, mark, ends); err != nil {
		return nil, err
	}
	until := time.Now().Add(l.lease)
	claimed, prev, err := l.claim(ctx, entries, mark, until)
	if err != nil {
		return nil, err
	}
	*pending = claimed
	send := claimed
	if len(prev) > 0 {
		seen, from, err := l.alreadyProduced(ctx, prev, ends)
		if err != nil {
			return nil, err
		}
		// This attempt now answers for what the earlier ones may have produced: a
		// later attempt must scan from where the earliest of them began, not from here
		// (a retry that produced nothing new would otherwise hide what the first try
		// produced from the retry after it).
		if err := l.recordEnds(ctx, mark, earliest(from, ends)); err != nil {
			return nil, err
		}
		send = make([]outEntry, 0, len(claimed))
		for _, e := range claimed {
			if seen[e.eventID()] {
				ledgerRecovered.Inc()
				continue
			}
			send = append(send, e)
		}
		// The check took time: renew the lease before producing.
		until = time.Now().Add(l.lease)
		if _, _, err := l.claim(ctx, claimed, mark, until); err != nil {
			return nil, err
		}
	}
	// Stop well before the lease ends: after it, another attempt may take over.
	pctx, cancel := context.WithDeadline(ctx, until.Add(-l.lease/2))
	defer cancel()
	if err := l.out.produce(pctx, send); err != nil {
		return nil, err
	}
	return claimed, nil
}

// recordEnds records where the output partitions ended when the attempt mark began.
func (l *ledger) recordEnds(ctx context.Context, mark string, ends map[string]map[int]int64) error {
	b, err := json.Marshal(ends)
	if err != nil {
		return err
	}
	if err := l.rdb.Set(ctx, l.k.sending(mark), b, l.parkTTL).Err(); err != nil {
		return fmt.Errorf("cannot record the output ends: %w", err)
	}
	return nil
}

// earliest returns, per topic and partition, the smaller offset of a and b.
func earliest(a, b map[string]map[int]int64) map[string]map[int]int64 {
	out := map[string]map[int]int64{}
	for _, m := range []map[string]map[int]int64{a, b} {
		for topic, parts := range m {
			if out[topic] == nil {
				out[topic] = map[int]int64{}
			}
			for p, off := range parts {
				if cur, ok := out[topic][p]; !ok || off < cur {
					out[topic][p] = off
				}
			}
		}
	}
	return out
}

// claim claims entries, and the older events of their referrals, for the attempt mark
// until the given time. It returns the claimed entries still in their outbox, in each
// referral's order, and the earlier attempts that had claimed some of them.
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
	var claimed []outEntry
	prev := map[string]bool{}
	var fail error
	release := map[string][]any{} // user -> id, earlier claim, ...: to restore on failure
	for n, u := range users {
		res, err := cmds[n].StringSlice()
		if err != nil || len(res) == 0 {
			fail = errors.Join(fail, fmt.Errorf("cannot claim events of %s: %v", u, err))
			continue
		}
		if res[0] == "busy" {
			if fail == nil {
				fail = fmt.Errorf("%w: another attempt (%s) is producing events of %s", errLater, strings.Join(res[1:], " "), u)
			}
			continue
		}
		for i := 1; i+2 < len(res); i += 3 {
			id, was := res[i], res[i+1]
			release[u] = append(release[u], id, was)
			e := outEntry{user: u, id: id, mark: full, owned: true}
			if err := json.Unmarshal([]byte(res[i+2]), &e.ev); err != nil {
				fail = errors.Join(fail, fmt.Errorf("ledger outbox entry %s of %s: %w", id, u, err))
				continue
			}
			if was != "" && markID(was) != mark {
				prev[markID(was)] = true
			}
			claimed = append(claimed, e)
		}
	}
	if fail != nil {
		// All or nothing: two attempts holding part each would wait on each other.
		pipe := l.rdb.Pipeline()
		for u, args := range release {
			releaseScript.EvalSha(ctx, pipe, []string{l.k.out(u)}, append([]any{full}, args...)...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, nil, errors.Join(fail, fmt.Errorf("cannot release a partial claim: %w", err))
		}
		return nil, nil, fail
	}
	return claimed, prev, nil
}

// alreadyProduced returns the ids of the events on the output topics between the
// earliest of marks and to, and that earliest start. A mark that has expired is ignored:
// its entries are produced again (at least once beats never).
func (l *ledger) alreadyProduced(ctx context.Context, marks map[string]bool, to map[string]map[int]int64) (map[string]bool, map[string]map[int]int64, error) {
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
		from = earliest(from, ends)
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
				return nil, nil, fmt.Errorf("cannot check what an earlier attempt produced: %w", err)
			}
		}
	}
	return seen, from, nil
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
	w.mu.RLock()
	topics := []string{w.attributions.Topic, w.commissions.Topic}
	w.mu.RUnlock()
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
