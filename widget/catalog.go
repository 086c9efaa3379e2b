package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Catalog is the widget's view of the marketplace's kworks, kept in Redis.
//
// Keys (hash tags keep what one command or transaction touches in one Redis Cluster
// slot):
//
//	rfe:kw:{id}           hash: the kwork record (every field, rev, updated_ms, img)
//	rfe:kwidx:{id}        set: "category\x00card" entries that may be in an index
//	rfe:kwimg:{id}        string: the normalised uploaded image (JPEG)
//	rfe:kwcat:{cat}       set: the card JSON of each active kwork of the category
//	rfe:kwcats            set: every category that ever had an active kwork
//	rfe:kwlock:{id}       string: held while the kwork is being reindexed
//	rfe:kwdirty:{id}      string: a write since the last reindex round (catalog_lock.go)
//
// A category's index holds the cards themselves, so a render is one SRANDMEMBER: N
// distinct random members, one round trip, no script. The record is the truth; the
// index follows it (reindex) right after every write, so a removal leaves the index
// before the write returns. rfe:kwidx remembers every card put in an index until it is
// taken out again, so an interrupted reindex is repaired by the next one.
type Catalog struct {
	r      redis.UniversalClient
	origin string
	drawer *drawer // nil: draws go to Redis one by one
	// Now returns the current time for admin writes; tests replace it.
	Now func() time.Time
}

// ErrKworkNotFound is returned for a kwork the catalog does not hold.
var ErrKworkNotFound = errors.New("kwork not found")

// NewCatalog returns a catalog on r whose kwork URLs must be on marketOrigin.
func NewCatalog(r redis.UniversalClient, marketOrigin string) (*Catalog, error) {
	var errs []error
	if r == nil {
		errs = append(errs, errors.New("widget: catalog needs Redis"))
	}
	if err := checkOrigin(marketOrigin); err != nil {
		errs = append(errs, errors.New("widget: MarketOrigin (REFEDGE_MARKET_ORIGIN): "+err.Error()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Catalog{r: r, origin: trimOrigin(marketOrigin), Now: time.Now}, nil
}

func kworkKey(id string) string     { return "rfe:kw:{" + id + "}" }
func imageKey(id string) string     { return "rfe:kwimg:{" + id + "}" }
func indexedKey(id string) string   { return "rfe:kwidx:{" + id + "}" }
func catCardsKey(cat string) string { return "rfe:kwcat:{" + cat + "}" }

const categoriesKey = "rfe:kwcats"

// Put stores k (validated against the market origin) unless the stored record is
// newer than k.UpdatedMs (events arrive out of order), then brings the index in line.
// It reports whether k was applied.
func (c *Catalog) Put(ctx context.Context, k Kwork) (bool, error) {
	if err := k.Validate(c.origin); err != nil {
		return false, err
	}
	if k.UpdatedMs <= 0 {
		k.UpdatedMs = c.Now().UnixMilli()
	}
	res, err := putScript.Run(ctx, c.r, []string{kworkKey(k.ID)}, k.UpdatedMs,
		"seller_id", k.SellerID, "title", k.Title, "category", k.Category,
		"price", k.Price, "currency", k.Currency, "url", k.URL, "path", k.Path,
		"image_url", k.ImageURL, "rating", strconv.FormatFloat(k.Rating, 'f', -1, 64),
		"status", string(k.Status)).Slice()
	if err != nil {
		return false, fmt.Errorf("cannot store kwork %s: %w", k.ID, err)
	}
	if applied, _ := res[0].(int64); applied == 0 {
		return false, nil
	}
	return true, c.reindex(ctx, k.ID)
}

// putScript: KEYS[1] record; ARGV[1] updated_ms, then field/value pairs. Equal times
// apply again, so a redelivered event repairs an index a crash left behind.
var putScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'updated_ms')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return {0} end
redis.call('HSET', KEYS[1], 'updated_ms', ARGV[1], unpack(ARGV, 2))
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {1}`)

// Moderate applies kwork.moderated: approval makes a kwork waiting for (or failed in)
// moderation active; a rejection hides it at once. A removed kwork stays removed, and
// an unknown kwork is ignored (its upsert carries its status).
func (c *Catalog) Moderate(ctx context.Context, id string, approved bool, at time.Time) (bool, error) {
	if !validKworkID(id) {
		return false, errors.New("kwork_id must match [0-9A-Za-z_-]{1,64}")
	}
	flag := "0"
	if approved {
		flag = "1"
	}
	res, err := moderateScript.Run(ctx, c.r, []string{kworkKey(id)}, at.UnixMilli(), flag).Slice()
	if err != nil {
		return false, fmt.Errorf("cannot moderate kwork %s: %w", id, err)
	}
	if applied, _ := res[0].(int64); applied == 0 {
		return false, nil
	}
	return true, c.reindex(ctx, id)
}

var moderateScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'status', 'updated_ms')
if not st[1] then return {0} end
if st[2] and tonumber(st[2]) > tonumber(ARGV[1]) then return {0} end
local ns = st[1]
if ARGV[2] == '1' then
  if ns == 'moderation' or ns == 'rejected' then ns = 'active' end
elseif ns ~= 'removed' then
  ns = 'rejected'
end
redis.call('HSET', KEYS[1], 'status', ns, 'updated_ms', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {1}`)

// Get returns kwork id or ErrKworkNotFound.
func (c *Catalog) Get(ctx context.Context, id string) (Kwork, error) {
	if !validKworkID(id) {
		return Kwork{}, ErrKworkNotFound
	}
	m, err := c.r.HGetAll(ctx, kworkKey(id)).Result()
	if err != nil {
		return Kwork{}, fmt.Errorf("cannot read kwork %s: %w", id, err)
	}
	if len(m) == 0 || m["status"] == "" {
		return Kwork{}, ErrKworkNotFound
	}
	return recordKwork(id, m), nil
}

func recordKwork(id string, m map[string]string) Kwork {
	price, _ := strconv.ParseInt(m["price"], 10, 64)
	rating, _ := strconv.ParseFloat(m["rating"], 64)
	ms, _ := strconv.ParseInt(m["updated_ms"], 10, 64)
	return Kwork{ID: id, SellerID: m["seller_id"], Title: m["title"], Category: m["category"],
		Price: price, Currency: m["currency"], URL: m["url"], Path: m["path"], ImageURL: m["image_url"],
		Rating: rating, Status: Status(m["status"]), Image: m["img"], UpdatedMs: ms}
}

// reindex makes the category index agree with the record after a write: the kwork's
// current card in its category when it is active, nothing anywhere else. Rounds for one
// kwork run one at a time under a short lock in its slot (catalog_lock.go), and a
// writer never waits for it: it marks the kwork dirty and takes the lock if it is free;
// if it is not, the holder runs another round for it, since the holder checks the mark
// after each round and again after releasing the lock. So a burst of writes to one kwork
// costs as many rounds as it needs, not a queue of writers timing out.
func (c *Catalog) reindex(ctx context.Context, id string) error {
	if err := c.markDirty(ctx, id); err != nil {
		return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
	}
	for {
		unlock, ok, err := c.tryLockKwork(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			return nil // the holder sees the mark and runs the round
		}
		err = c.drainDirty(ctx, id)
		unlock()
		if err != nil {
			return err
		}
		// A writer that marked after the last check but found the lock still held
		// left its mark for whoever comes next: that is us, unless nobody marked.
		if dirty, err := c.isDirty(ctx, id); err != nil || !dirty {
			return err
		}
	}
}

// drainDirty runs rounds while the kwork is marked dirty, clearing the mark before
// each round (a write during the round marks it again).
func (c *Catalog) drainDirty(ctx context.Context, id string) error {
	for {
		n, err := c.r.Del(ctx, reindexDirtyKey(id)).Result()
		if err != nil {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		if n == 0 {
			return nil
		}
		if err := c.reindexRound(ctx, id); err != nil {
			return err
		}
	}
}

// reindexRound brings the index in line with the record once. The record and the list
// of what may be indexed are read together; a card is listed before it is added and
// unlisted after it is removed, so nothing in an index is ever forgotten.
func (c *Catalog) reindexRound(ctx context.Context, id string) error {
	key, idx := kworkKey(id), indexedKey(id)
	for attempt := 0; attempt < 2; attempt++ {
		var rec *redis.MapStringStringCmd
		var listed *redis.StringSliceCmd
		_, err := c.r.TxPipelined(ctx, func(p redis.Pipeliner) error {
			rec, listed = p.HGetAll(ctx, key), p.SMembers(ctx, idx)
			return nil
		})
		if err != nil {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		m := rec.Val()
		k := recordKwork(id, m)
		want := ""
		if k.Status == StatusActive && k.Category != "" {
			card, _ := json.Marshal(cardOf(&k))
			want = k.Category + "\x00" + string(card)
		}
		var stale []string
		for _, e := range listed.Val() {
			if e != want {
				stale = append(stale, e)
			}
		}
		if want != "" {
			if err := c.r.SAdd(ctx, idx, want).Err(); err != nil {
				return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
			}
		}
		_, err = c.r.Pipelined(ctx, func(p redis.Pipeliner) error {
			if want != "" {
				cat, card, _ := strings.Cut(want, "\x00")
				p.SAdd(ctx, catCardsKey(cat), card)
				p.SAdd(ctx, categoriesKey, cat)
			}
			for _, e := range stale {
				cat, card, _ := strings.Cut(e, "\x00")
				p.SRem(ctx, catCardsKey(cat), card)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		if len(stale) > 0 {
			if err := c.r.SRem(ctx, idx, anySlice(stale)...).Err(); err != nil {
				return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
			}
		}
		rev, err := c.r.HGet(ctx, key, "rev").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		if rev == m["rev"] {
			return nil
		}
	}
	// Still changing: the writes doing it have marked the kwork dirty again.
	return nil
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
