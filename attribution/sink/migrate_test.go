package sink

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/event"
	chschema "github.com/refedge/refedge/deploy/clickhouse"
	"github.com/refedge/refedge/internal/testenv"
)

// Migrations that add a column or drop views can run again after they were cut short
// (ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS): 0007 adds v_unconfirmed_partner and
// recreates the clicks_dims views, 0012 drops them again. Afterwards a click insert feeds
// the live counter clicks_hourly only, and the sealer's built breakdowns have a column per
// verdict (the analytics tests check what the sealer writes into them).
func TestMigrateRepeatsAfterCutShort(t *testing.T) {
	ctx := t.Context()
	conn, db := testenv.ClickHouse(t)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := Migrate(ctx, conn, db, log); err != nil {
		t.Fatal(err)
	}
	// Forget every migration from 0007 on, as if the process died before recording it:
	// its columns and views exist, the record does not.
	migs, err := chschema.Migrations(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "DROP TABLE "+db+".schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE TABLE "+db+".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migs {
		if m.Version < 7 {
			if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC().Truncate(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, conn, db, log); err != nil {
		t.Fatalf("running 0007 again: %v", err)
	}
	var recorded uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".schema_migrations").Scan(&recorded); err != nil || int(recorded) != len(migs) {
		t.Fatalf("%d migrations recorded (%v), want %d", recorded, err, len(migs))
	}

	now := time.Now().UTC().Truncate(time.Second)
	var clicks []*event.Click
	for i, v := range []event.Verdict{event.UnconfirmedPartner, event.UnconfirmedPartner, event.Valid} {
		c := event.AcquireClick()
		c.ID, c.Time, c.Verdict = event.NewClickID(now), now, v
		c.SetPartner([]byte("p-unconfirmed"))
		c.SetSource([]byte("link"))
		c.SetSubID(fmt.Appendf(nil, "s%d", i))
		if v == event.UnconfirmedPartner {
			c.AddReason("partner:unconfirmed")
		}
		clicks = append(clicks, c)
	}
	if err := (&ClickHouseClicks{Conn: conn, DB: db}).Write(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	var live uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(sum(clicks)) FROM "+db+".clicks_hourly WHERE partner_id = 'p-unconfirmed'").Scan(&live); err != nil || live != 3 {
		t.Errorf("clicks_hourly counts %d clicks (%v), want 3", live, err)
	}
	var views []string
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND engine = 'MaterializedView' ORDER BY name", db)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		views = append(views, name)
	}
	rows.Close()
	// What a click or impression insert still feeds: one live counter each; conversions
	// keep their views.
	want := "[clicks_hourly_mv conversions_daily_mv conversions_hourly_mv impressions_hourly_mv referral_commissions_mv referrals_mv]"
	if got := fmt.Sprint(views); got != want {
		t.Errorf("materialized views %s, want %s", got, want)
	}
	for _, tb := range []string{"clicks_dims_hourly_built", "clicks_dims_daily_built"} {
		for _, v := range event.Verdicts() {
			var n uint64
			if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = ? AND name = ?", db, tb, "v_"+v.String()).Scan(&n); err != nil || n != 1 {
				t.Errorf("%s has no column v_%s (%v)", tb, v, err)
			}
		}
	}
}
