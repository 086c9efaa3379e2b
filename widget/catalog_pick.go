package widget

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Card is what a render shows of a kwork.
type Card struct {
	ID       string  `json:"i"`
	Title    string  `json:"t"`
	Price    int64   `json:"p"`
	Currency string  `json:"c"`
	Path     string  `json:"u"`
	Rating   float64 `json:"r,omitempty"`
	Image    string  `json:"v,omitempty"`
}

func cardOf(k *Kwork) Card {
	return Card{ID: k.ID, Title: displayTitle(k.Title), Price: k.Price, Currency: k.Currency, Path: k.Path, Rating: k.Rating, Image: k.Image}
}

// maxDisplayRunes bounds a card's title: a card shows two lines at most, and the
// bound keeps the frame within its weight budget whatever the titles hold.
const maxDisplayRunes = 100

// displayTitle shortens title to maxDisplayRunes, ending it with an ellipsis.
func displayTitle(title string) string {
	n := 0
	for i := range title {
		if n == maxDisplayRunes-1 {
			if utf8.RuneCountInString(title[i:]) > 1 {
				return strings.TrimSpace(title[:i]) + "…"
			}
			return title
		}
		n++
	}
	return title
}

// Random appends up to n distinct random active kworks of category to dst.
func (c *Catalog) Random(ctx context.Context, dst []Card, category string, n int) ([]Card, error) {
	raws, err := c.drawRaw(ctx, nil, category, n)
	for _, s := range raws {
		var cd Card
		if json.Unmarshal([]byte(s), &cd) == nil && cd.ID != "" {
			dst = append(dst, cd)
		}
	}
	return dst, err
}

// drawRaw appends the card JSON of up to n distinct random active kworks of category
// to dst, undecoded: renders cache what they make of a card by its JSON. One
// SRANDMEMBER: a positive count returns distinct members.
func (c *Catalog) drawRaw(ctx context.Context, dst []string, category string, n int) ([]string, error) {
	if n <= 0 || !validCategory(category) {
		return dst, nil
	}
	var res []string
	var err error
	if c.drawer != nil {
		res, err = c.drawer.draw(catCardsKey(category), n)
	} else {
		res, err = c.r.SRandMemberN(ctx, catCardsKey(category), int64(n)).Result()
	}
	if err != nil {
		return dst, fmt.Errorf("cannot draw kworks of %s: %w", category, err)
	}
	start := len(dst)
	for _, s := range res {
		// While a kwork's card is being replaced, both versions may be members for a
		// moment: keep one card per kwork.
		id := cardID(s)
		dup := id == ""
		for _, prev := range dst[start:] {
			if cardID(prev) == id {
				dup = true
				break
			}
		}
		if !dup {
			dst = append(dst, s)
		}
	}
	return dst, nil
}

// cardID returns the kwork id of a card's JSON: cards are encoded with the id first
// and ids need no escaping.
func cardID(card string) string {
	rest, ok := strings.CutPrefix(card, `{"i":"`)
	if !ok {
		return ""
	}
	if j := strings.IndexByte(rest, '"'); j > 0 {
		return rest[:j]
	}
	return ""
}

var cardFields = []string{"status", "title", "price", "currency", "path", "rating", "img"}

// Pick appends up to n distinct active kworks drawn at random from ids to dst.
func (c *Catalog) Pick(ctx context.Context, dst []Card, ids []string, n int) ([]Card, error) {
	if n <= 0 || len(ids) == 0 {
		return dst, nil
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err := c.r.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, kworkKey(id), cardFields...)
		}
		return nil
	})
	if err != nil {
		return dst, fmt.Errorf("cannot read %d kworks: %w", len(ids), err)
	}
	start := len(dst)
	for i, cmd := range cmds {
		v := cmd.Val()
		if len(v) != len(cardFields) || v[0] != string(StatusActive) {
			continue
		}
		str := func(j int) string { s, _ := v[j].(string); return s }
		price, _ := strconv.ParseInt(str(2), 10, 64)
		rating, _ := strconv.ParseFloat(str(5), 64)
		dst = append(dst, Card{ID: ids[i], Title: displayTitle(str(1)), Price: price, Currency: str(3), Path: str(4), Rating: rating, Image: str(6)})
	}
	got := dst[start:]
	rand.Shuffle(len(got), func(i, j int) { got[i], got[j] = got[j], got[i] })
	if len(got) > n {
		dst = dst[:start+n]
	}
	return dst, nil
}

// CategoryCount is a category and how many active kworks it holds.
type CategoryCount struct {
	Category string `json:"category"`
	Kworks   int64  `json:"kworks"`
}

// maxCategories bounds what Categories returns (the builder's topic list).
const maxCategories = 1000

// Categories returns the categories that hold active kworks, by name.
func (c *Catalog) Categories(ctx context.Context) ([]CategoryCount, error) {
	names, err := c.r.SRandMemberN(ctx, categoriesKey, maxCategories).Result()
	if err != nil {
		return nil, fmt.Errorf("cannot list categories: %w", err)
	}
	cmds := make([]*redis.IntCmd, len(names))
	_, err = c.r.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.SCard(ctx, catCardsKey(n))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot count categories: %w", err)
	}
	out := make([]CategoryCount, 0, len(names))
	for i, n := range names {
		if cnt := cmds[i].Val(); cnt > 0 {
			out = append(out, CategoryCount{Category: n, Kworks: cnt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Category < out[j].Category })
	return out, nil
}
