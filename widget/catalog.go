package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Catalog is the widget's view of the marketplace's kworks, kept in Redis.
//
// Keys (hash tags keep what one script touches in one Redis Cluster slot):
//
//	rfe:kw:{id}             hash: the kwork record (every field, rev, updated_ms, img)
//	rfe:kwimg:{id}          string: the normalised uploaded image (JPEG)
//	rfe:kwcat:{cat}:ids     set: ids of the category's active kworks
//	rfe:kwcat:{cat}:cards   hash: id -> card JSON (what a render shows)
//	rfe:kwcats              set: every category that ever had an active kwork
//
// The record is the truth; the per-category index follows it (reindex) right after
// every write, so a removal leaves the index before the write returns.
type Catalog struct {
	r      redis.UniversalClient
	origin string
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
func catIDsKey(cat string) string   { return "rfe:kwcat:{" + cat + "}:ids" }
func catCardsKey(cat string) string { return "rfe:kwcat:{" + cat + "}:cards" }

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
	prev, _ := res[1].(string)
	return true, c.reindex(ctx, k.ID, prev)
}

// putScript: KEYS[1] record; ARGV[1] updated_ms, then field/value pairs. Equal times
// apply again, so a redelivered event repairs an index a crash left behind.
var putScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'updated_ms')
if cur and tonumber(cur) > tonumber(ARGV[1]) then return {0, ''} end
local prev = redis.call('HGET', KEYS[1], 'category') or ''
redis.call('HSET', KEYS[1], 'updated_ms', ARGV[1], unpack(ARGV, 2))
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {1, prev}`)

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
	return true, c.reindex(ctx, id, "")
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

// reindex makes the category index agree with the record: indexed (with a fresh card)
// in its category when active, absent everywhere else. prev is a category the kwork may
// have left. The record is read again afterwards; if a concurrent write changed it,
// the index is brought in line once more.
func (c *Catalog) reindex(ctx context.Context, id, prev string) error {
	key := kworkKey(id)
	for attempt := 0; attempt < 4; attempt++ {
		m, err := c.r.HGetAll(ctx, key).Result()
		if err != nil {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		k := recordKwork(id, m)
		_, err = c.r.Pipelined(ctx, func(p redis.Pipeliner) error {
			if prev != "" && prev != k.Category {
				p.SRem(ctx, catIDsKey(prev), id)
				p.HDel(ctx, catCardsKey(prev), id)
			}
			if k.Category == "" {
				return nil
			}
			if k.Status == StatusActive {
				card, _ := json.Marshal(cardOf(&k))
				// The card goes in before the id, so an indexed id always has a card.
				p.HSet(ctx, catCardsKey(k.Category), id, card)
				p.SAdd(ctx, catIDsKey(k.Category), id)
				p.SAdd(ctx, categoriesKey, k.Category)
			} else {
				// The id goes out first, so a render never picks a kwork without a card.
				p.SRem(ctx, catIDsKey(k.Category), id)
				p.HDel(ctx, catCardsKey(k.Category), id)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		rev, err := c.r.HGet(ctx, key, "rev").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("cannot reindex kwork %s: %w", id, err)
		}
		if rev == m["rev"] {
			return nil
		}
		prev = k.Category
	}
	return fmt.Errorf("cannot reindex kwork %s: it keeps changing", id)
}
