package widget

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
)

func cardIDs(cs []Card) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	sort.Strings(ids)
	return ids
}

func TestCatalogRandomDistinctAndActiveOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		st := StatusActive
		if i%5 == 4 {
			st = StatusModeration
		}
		f.kwork(t, Kwork{ID: "d" + strconv.Itoa(i), Title: "Design " + strconv.Itoa(i), Category: "design", Price: 1000, Status: st})
	}
	f.kwork(t, Kwork{ID: "w1", Title: "Words", Category: "writing", Price: 500})
	for round := 0; round < 20; round++ {
		cs, err := f.svc.Catalog().Random(ctx, nil, "design", 12)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 12 {
			t.Fatalf("drew %d cards, want 12", len(cs))
		}
		seen := map[string]bool{}
		for _, c := range cs {
			n, _ := strconv.Atoi(strings.TrimPrefix(c.ID, "d"))
			if !strings.HasPrefix(c.ID, "d") || n%5 == 4 {
				t.Fatalf("drew %s: not an active design kwork", c.ID)
			}
			if seen[c.ID] {
				t.Fatalf("drew %s twice in one render", c.ID)
			}
			seen[c.ID] = true
			if c.Path != "/kwork/"+c.ID || c.Price != 1000 || c.Currency != "USD" {
				t.Fatalf("card %+v", c)
			}
		}
	}
	// Fewer active kworks than asked for: all of them, once.
	cs, _ := f.svc.Catalog().Random(ctx, nil, "writing", 12)
	if got := cardIDs(cs); strings.Join(got, ",") != "w1" {
		t.Fatalf("writing = %v", got)
	}
	if cs, err := f.svc.Catalog().Random(ctx, nil, "empty-topic", 6); err != nil || len(cs) != 0 {
		t.Fatalf("empty topic = %v, %v", cs, err)
	}
	cats, err := f.svc.Catalog().Categories(ctx)
	if err != nil || len(cats) != 2 || cats[0] != (CategoryCount{"design", 16}) || cats[1] != (CategoryCount{"writing", 1}) {
		t.Fatalf("Categories = %v, %v", cats, err)
	}
}

func TestCatalogRemovalsLeaveTheIndexAtOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.svc.Catalog()
	drawn := func(cat string) string {
		t.Helper()
		cs, err := c.Random(ctx, nil, cat, 12)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(cardIDs(cs), ",")
	}
	f.kwork(t, Kwork{ID: "a", Title: "A", Category: "design", UpdatedMs: 1000})
	f.kwork(t, Kwork{ID: "b", Title: "B", Category: "design", UpdatedMs: 1000})
	f.kwork(t, Kwork{ID: "c", Title: "C", Category: "design", UpdatedMs: 1000})
	if got := drawn("design"); got != "a,b,c" {
		t.Fatalf("before: %s", got)
	}
	for _, st := range []Status{StatusRemoved, StatusRejected, StatusModeration} {
		f.kwork(t, Kwork{ID: "a", Title: "A", Category: "design", Status: st, UpdatedMs: 2000})
		if got := drawn("design"); got != "b,c" {
			t.Fatalf("after status %s: %s", st, got)
		}
		f.kwork(t, Kwork{ID: "a", Title: "A", Category: "design", UpdatedMs: 2000})
	}
	// Moderation: a rejection hides at once, an approval shows again.
	if ok, err := c.Moderate(ctx, "b", false, time.UnixMilli(3000)); err != nil || !ok {
		t.Fatalf("Moderate = %v, %v", ok, err)
	}
	if got := drawn("design"); got != "a,c" {
		t.Fatalf("after rejection: %s", got)
	}
	if _, err := c.Moderate(ctx, "b", true, time.UnixMilli(3001)); err != nil {
		t.Fatal(err)
	}
	if got := drawn("design"); got != "a,b,c" {
		t.Fatalf("after approval: %s", got)
	}
	// An older event does not undo a newer one.
	if ok, _ := c.Moderate(ctx, "b", false, time.UnixMilli(2500)); ok {
		t.Fatal("a stale moderation was applied")
	}
	if ok, _ := c.Put(ctx, Kwork{ID: "c", Title: "C", Category: "design", Currency: "USD", URL: testMarket + "/c", Status: StatusRemoved, UpdatedMs: 500}); ok {
		t.Fatal("a stale upsert was applied")
	}
	// A removed kwork is not revived by an approval.
	f.kwork(t, Kwork{ID: "c", Title: "C", Category: "design", Status: StatusRemoved, UpdatedMs: 4000})
	c.Moderate(ctx, "c", true, time.UnixMilli(4001))
	if got := drawn("design"); got != "a,b" {
		t.Fatalf("removed then approved: %s", got)
	}
	// Moving category moves the index entry.
	f.kwork(t, Kwork{ID: "a", Title: "A2", Category: "writing", UpdatedMs: 5000})
	if got := drawn("design") + "|" + drawn("writing"); got != "b|a" {
		t.Fatalf("after the move: %s", got)
	}
	cs, _ := c.Random(ctx, nil, "writing", 1)
	if cs[0].Title != "A2" {
		t.Fatalf("card not refreshed: %+v", cs[0])
	}
	// An unknown kwork's moderation is ignored.
	if ok, err := c.Moderate(ctx, "nope", true, time.Now()); ok || err != nil {
		t.Fatalf("Moderate(unknown) = %v, %v", ok, err)
	}
}

func TestCatalogPick(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"p1", "p2", "p3", "p4"} {
		f.kwork(t, Kwork{ID: id, Title: id, Category: "misc", Rating: 4.5})
	}
	f.kwork(t, Kwork{ID: "p4", Title: "p4", Category: "misc", Status: StatusRemoved, UpdatedMs: time.Now().Add(time.Hour).UnixMilli()})
	cs, err := f.svc.Catalog().Pick(context.Background(), nil, []string{"p1", "p2", "p3", "p4", "unknown"}, 2)
	if err != nil || len(cs) != 2 {
		t.Fatalf("Pick = %v, %v", cs, err)
	}
	cs, _ = f.svc.Catalog().Pick(context.Background(), nil, []string{"p1", "p2", "p3", "p4", "unknown"}, 12)
	if got := strings.Join(cardIDs(cs), ","); got != "p1,p2,p3" {
		t.Fatalf("Pick(all) = %s", got)
	}
	if cs[0].Rating != 4.5 || cs[0].Price != 0 {
		t.Fatalf("card = %+v", cs[0])
	}
}

func envelope(typ string, at time.Time, payload string) event.Envelope {
	return event.Envelope{ID: event.NewEventID(at), Type: typ, Version: 1, OccurredAt: at, Payload: json.RawMessage(payload)}
}

func TestCatalogApply(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.svc.Catalog()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	// Integer ids, unknown fields and image_url are accepted; the URL must be on the origin.
	err := c.Apply(ctx, envelope(TypeKworkUpserted, t0, `{"kwork_id":77,"seller_id":9,"title":"Logo","category":"design",
		"price":150000,"currency":"RUB","url":"https://market.example/kwork/77","image_url":"http://10.0.0.1/x.png",
		"rating":4.9,"status":"active","new_field":true}`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Get(ctx, "77")
	if err != nil || k.SellerID != "9" || k.Price != 150000 || k.ImageURL != "http://10.0.0.1/x.png" || k.Status != StatusActive {
		t.Fatalf("Get = %+v, %v", k, err)
	}
	err = c.Apply(ctx, envelope(TypeKworkModerated, t0.Add(time.Second), `{"kwork_id":"77","seller_id":"9","approved":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if cs, _ := c.Random(ctx, nil, "design", 5); len(cs) != 0 {
		t.Fatalf("rejected kwork still drawn: %v", cs)
	}
	invalid := func(e event.Envelope) {
		t.Helper()
		if err := c.Apply(ctx, e); !errors.Is(err, ErrInvalidEvent) {
			t.Fatalf("Apply(%s %s) = %v; want ErrInvalidEvent", e.Type, e.Payload, err)
		}
	}
	invalid(envelope(TypeKworkUpserted, t0, `{"kwork_id":"1","title":"x","category":"d","currency":"USD","url":"https://evil.example/1","status":"active"}`))
	invalid(envelope(TypeKworkUpserted, t0, `{"kwork_id":"1","title":"x","category":"d","currency":"USD","url":"https://market.example/1"}`))
	invalid(envelope(TypeKworkUpserted, t0, `{"kwork_id":[1]}`))
	invalid(envelope(TypeKworkModerated, t0, `{"kwork_id":"1"}`))
	invalid(event.Envelope{Type: TypeKworkUpserted})
	if err := c.Apply(ctx, envelope("kwork.deleted.someday", t0, `{}`)); err != nil {
		t.Fatalf("unknown types are ignored, got %v", err)
	}
}

// TestCatalogConcurrentWritesToOneKwork: writers racing on one kwork (the admin API and
// the consumer, or several admin clients) all succeed, and the index ends up holding
// exactly the record's current card, in its current category.
func TestCatalogConcurrentWritesToOneKwork(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.svc.Catalog()
	const writers, writes = 8, 25
	errs := make(chan error, writers*writes)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < writes; i++ {
				cat := []string{"design", "writing"}[(w+i)%2]
				// Equal times apply again (a redelivery repairs), so every write lands.
				_, err := c.Put(ctx, Kwork{ID: "hot", Title: fmt.Sprintf("T%d-%d", w, i), Category: cat,
					Currency: "USD", URL: testMarket + "/kwork/hot", UpdatedMs: 1000})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	var first error
	for err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d concurrent writes failed; first: %v", failed, writers*writes, first)
	}
	k, err := c.Get(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	var cards []Card
	for _, cat := range []string{"design", "writing"} {
		cs, err := c.Random(ctx, nil, cat, 12)
		if err != nil {
			t.Fatal(err)
		}
		for _, cd := range cs {
			if cat != k.Category || cd.Title != k.Title {
				t.Errorf("index holds %q in %s; the record is %q in %s", cd.Title, cat, k.Title, k.Category)
			}
		}
		cards = append(cards, cs...)
	}
	if len(cards) != 1 {
		t.Fatalf("index holds %d cards of the kwork, want 1", len(cards))
	}
}
