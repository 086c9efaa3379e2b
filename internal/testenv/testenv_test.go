package testenv_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/refedge/refedge/internal/testenv"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	a, b := testenv.Redis(t), testenv.Redis(t)
	if a.Options().DB == b.Options().DB {
		t.Fatalf("two clients share database %d", a.Options().DB)
	}
	ctx := t.Context()
	if n, err := a.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("fresh database: DBSIZE = %d, %v; want 0", n, err)
	}
	key := testenv.KeyPrefix(t) + "k"
	if err := a.Set(ctx, key, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, key).Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
	if n, err := b.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("key visible in the other test database: EXISTS = %d, %v", n, err)
	}
}

func TestKeyPrefixUnique(t *testing.T) {
	t.Parallel()
	if a, b := testenv.KeyPrefix(t), testenv.KeyPrefix(t); a == b || !strings.HasSuffix(a, ":") {
		t.Fatalf("KeyPrefix = %q, %q; want two different prefixes ending in ':'", a, b)
	}
}

func TestClickHouse(t *testing.T) {
	t.Parallel()
	conn, db := testenv.ClickHouse(t)
	ctx := t.Context()
	if !strings.HasPrefix(db, "test_") {
		t.Fatalf("database %q, want test_<random>", db)
	}
	// The DDL the schema uses, in the subset ClickHouse 18.16 accepts.
	err := conn.Exec(ctx, `CREATE TABLE clicks (
		ts DateTime, partner_id String, verdict String, n UInt32
	) ENGINE = MergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (partner_id, ts)`)
	if err != nil {
		t.Fatal(err)
	}
	// 18.16 needs the explicit column list for clickhouse-go batches.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO clicks (ts, partner_id, verdict, n)")
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := batch.Append(ts.Add(time.Duration(i)*time.Hour), fmt.Sprint("p", i%2), "valid", uint32(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var (
		count uint64
		sum   uint64
		cur   string
	)
	row := conn.QueryRow(ctx, "SELECT count(), sum(n), currentDatabase() FROM clicks WHERE partner_id = ?", "p0")
	if err := row.Scan(&count, &sum, &cur); err != nil {
		t.Fatal(err)
	}
	if count != 2 || sum != 4 || cur != db {
		t.Fatalf("count, sum, db = %d, %d, %s; want 2, 4, %s", count, sum, cur, db)
	}
}

func TestChromium(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>testenv works</title><p id="p">hello</p>`)
	}))
	defer srv.Close()

	ctx := testenv.Chromium(t)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(tctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "testenv works" {
		t.Fatalf("title %q, want %q", title, "testenv works")
	}
}

func TestRequiredSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	ok := t.Run("sub", func(t *testing.T) {
		testenv.Required(t, "a unicorn", "there is none")
		t.Error("Required returned")
	})
	if !ok {
		t.Fatal("Required failed the test outside CI")
	}
}
