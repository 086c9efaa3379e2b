package review_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/refedge/refedge/attribution/review"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/clustertest"
)

// On two ClickHouse shards (Distributed tables sharded by partner): the review reads the
// same ranking and drill-down as on one server (its subqueries over Distributed tables
// are GLOBAL IN, which the cluster's default distributed_product_mode allows).
func TestReviewOnClickHouseCluster(t *testing.T) {
	db, conn := clustertest.ClickHouseCluster(t).MigratedDB(t, "test_rv_")
	end := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	// insert_distributed_sync: the insert returns once every shard has its rows.
	review.InsertReviewSimulation(clickhouse.Context(t.Context(), clickhouse.WithSettings(clickhouse.Settings{"insert_distributed_sync": 1})),
		t, conn, db, end)
	r, err := review.New(review.Config{Conn: conn, DB: db, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return end.Add(-30 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	adm := admintest.New(slog.New(slog.DiscardHandler))
	r.RegisterAdmin(adm)
	get := func(path string, v any) {
		t.Helper()
		rec := httptest.NewRecorder()
		adm.ServeHTTP(rec, admintest.AsViewer(httptest.NewRequest(http.MethodGet, path, nil)))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatal(err)
		}
	}
	var rk review.Ranking
	get("/admin/v1/review", &rk)
	if rk.Total != 6 || rk.Partners[0].PartnerID != "stuffer" || rk.Partners[0].Score != 77.8 || rk.Partners[0].Signups.Fast != 40 {
		t.Fatalf("cluster ranking: %d partners, first %+v", rk.Total, rk.Partners[0])
	}
	var d review.Detail
	get("/admin/v1/review/stuffer?limit=500", &d)
	revoked := 0
	for _, s := range d.Samples {
		if s.Revoked {
			revoked++
		}
	}
	if len(d.Samples) != 500 || revoked == 0 || len(d.FastSignups) != 40 || len(d.SharedGroups) == 0 {
		t.Fatalf("cluster drill-down: %d samples (%d revoked), %d fast signups, %d shared groups",
			len(d.Samples), revoked, len(d.FastSignups), len(d.SharedGroups))
	}
}
