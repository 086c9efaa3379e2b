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

// A migration that adds a column can run again after it was cut short (ClickHouse 18.16
// has no ADD COLUMN IF NOT EXISTS), and the clicks_dims views count unconfirmed_partner
// (0007) and datacenter (0010) afterwards, once each, and break clicks down by country
// and network (0010).
func TestMigrateRepeatsUnconfirmedPartnerColumns(t *testing.T) {
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
		t.Fatalf("running 0007 and later again: %v", err)
	}
	var recorded uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".schema_migrations").Scan(&recorded); err != nil || int(recorded) != len(migs) {
		t.Fatalf("%d migrations recorded (%v), want %d", recorded, err, len(migs))
	}

	now := time.Now().UTC().Truncate(time.Second)
	var clicks []*event.Click
	for i, v := range []event.Verdict{event.UnconfirmedPartner, event.UnconfirmedPartner, event.Valid, event.Datacenter} {
		c := event.AcquireClick()
		c.ID, c.Time, c.Verdict = event.NewClickID(now), now, v
		c.SetPartner([]byte("p-unconfirmed"))
		c.SetSource([]byte("link"))
		c.SetSubID(fmt.Appendf(nil, "s%d", i))
		if v == event.UnconfirmedPartner {
			c.AddReason("partner:unconfirmed")
		}
		if v == event.Datacenter {
			c.AddReason("net:datacenter")
			c.SetCountry("DE")
			c.ASN = 16509
		}
		clicks = append(clicks, c)
	}
	if err := (&ClickHouseClicks{Conn: conn, DB: db}).Write(ctx, clicks); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"clicks_dims_hourly", "clicks_dims_daily"} {
		var total, unconfirmed, valid, reason, dc, dcCountry, dcNetwork, unknownCountry, unknownNetwork uint64
		err := conn.QueryRow(ctx, "SELECT toUInt64(sumIf(clicks, dim IN ('source', 'reason'))), "+
			"toUInt64(sumIf(v_unconfirmed_partner, dim IN ('source', 'reason'))), toUInt64(sumIf(v_valid, dim IN ('source', 'reason'))), "+
			"toUInt64(sumIf(v_unconfirmed_partner, dim = 'reason' AND value = 'partner:unconfirmed')), "+
			"toUInt64(sumIf(v_datacenter, dim = 'source')), "+
			"toUInt64(sumIf(v_datacenter, dim = 'country' AND value = 'DE')), toUInt64(sumIf(v_datacenter, dim = 'network' AND value = '16509')), "+
			"toUInt64(sumIf(clicks, dim = 'country' AND value = '')), toUInt64(sumIf(clicks, dim = 'network' AND value = '0')) FROM "+db+"."+tb+
			" WHERE partner_id = 'p-unconfirmed'").Scan(&total, &unconfirmed, &valid, &reason, &dc, &dcCountry, &dcNetwork, &unknownCountry, &unknownNetwork)
		// Per click: one source row, plus one reason row for the two unconfirmed ones and
		// the data centre's; one country and one network row each.
		if err != nil || total != 7 || unconfirmed != 4 || valid != 1 || reason != 2 || dc != 1 || dcCountry != 1 || dcNetwork != 1 ||
			unknownCountry != 3 || unknownNetwork != 3 {
			t.Errorf("%s: clicks %d, v_unconfirmed_partner %d, v_valid %d, reason rows %d, v_datacenter %d (DE %d, AS16509 %d), "+
				"unknown country %d, network %d (%v); want 7, 4, 1, 2, 1 (1, 1), 3, 3",
				tb, total, unconfirmed, valid, reason, dc, dcCountry, dcNetwork, unknownCountry, unknownNetwork, err)
		}
	}
}
