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

// reindex makes the category index agree with the record: the kwork's current card in
// its category when it is active, nothing anywhere else. The record and the list of
// what may be indexed are read together; a card is listed before it is added and
// unlisted after it is removed, so nothing in an index is ever forgotten. Reindexes of
// one kwork run one at a time (lockKwork). A write that changes the record during a
// round runs its own reindex after this one; the round still runs once more, which
// covers a writer whose reindex gave up or died.
func (c *Catalog) reindex(ctx context.Context, id string) error {
	unlock, err := c.lockKwork(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
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
	// Still changing: the writes doing it reindex after this one releases the lock.
	return nil
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
