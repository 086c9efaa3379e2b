package partners

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/refedge/refedge/internal/admin/admintest"
	"github.com/refedge/refedge/internal/testenv"
)

func adminFixture(t *testing.T) (*Registry, func(method, id, body string) (int, Partner)) {
	t.Helper()
	reg := &Registry{Redis: testenv.Redis(t)}
	s := admintest.New(slog.New(slog.DiscardHandler))
	reg.RegisterAdmin(s)
	return reg, func(method, id, body string) (int, Partner) {
		t.Helper()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, admintest.Request(method, "/admin/v1/partners/"+id, strings.NewReader(body)))
		var p Partner
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("%s %s: %v in %s", method, id, err, rec.Body)
			}
		}
		return rec.Code, p
	}
}

// A partner created by hand without email_confirmed is confirmed: the operator vouches
// for it. An explicit value is stored as given.
func TestAdminPutNewPartnerEmailConfirmed(t *testing.T) {
	reg, call := adminFixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		id, body string
		want     bool
	}{
		{"absent", `{"status":"active","user_id":"u1"}`, true},
		{"null", `{"status":"active","email_confirmed":null}`, true},
		{"yes", `{"status":"active","email_confirmed":true}`, true},
		{"no", `{"status":"active","email_confirmed":false}`, false},
		{"blocked-absent", `{"status":"blocked"}`, true},
	} {
		code, p := call(http.MethodPut, c.id, c.body)
		if code != http.StatusOK || p.EmailConfirmed != c.want || p.ID != c.id {
			t.Errorf("PUT %s %s: %d %+v, want email_confirmed %v", c.id, c.body, code, p, c.want)
		}
		stored, err := reg.Get(ctx, c.id)
		if err != nil || stored.EmailConfirmed != c.want {
			t.Errorf("%s stored: %+v, %v; want email_confirmed %v", c.id, stored, err, c.want)
		}
		if code, p := call(http.MethodGet, c.id, ""); code != http.StatusOK || p.EmailConfirmed != c.want {
			t.Errorf("GET %s: %d %+v", c.id, code, p)
		}
	}
}

// A PUT without email_confirmed keeps the stored value, whoever stored it; an explicit
// value replaces it.
func TestAdminPutKeepsEmailConfirmed(t *testing.T) {
	reg, call := adminFixture(t)
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	// Fed by the core: not confirmed.
	if err := reg.Upsert(ctx, Partner{ID: "p1", UserID: "u1", Status: Active, EmailConfirmed: false, UpdatedAt: past}); err != nil {
		t.Fatal(err)
	}
	step := func(body string, want bool, status Status) {
		t.Helper()
		code, p := call(http.MethodPut, "p1", body)
		if code != http.StatusOK || p.EmailConfirmed != want || p.Status != status {
			t.Fatalf("PUT %s: %d %+v, want email_confirmed %v", body, code, p, want)
		}
		stored, err := reg.Get(ctx, "p1")
		if err != nil || stored.EmailConfirmed != want || stored.Status != status {
			t.Fatalf("after PUT %s: stored %+v, %v; want email_confirmed %v status %s", body, stored, err, want, status)
		}
	}
	step(`{"status":"blocked","user_id":"u1"}`, false, Blocked) // a block keeps "not confirmed"
	step(`{"status":"active","user_id":"u1"}`, false, Active)   // so does the unblock
	step(`{"status":"active","user_id":"u1","email_confirmed":true}`, true, Active)
	step(`{"status":"blocked","user_id":"u1"}`, true, Blocked) // and now keeps "confirmed"
	step(`{"status":"active","email_confirmed":false}`, false, Active)

	// An entry without the field (written by hand) stays unconfirmed.
	if err := reg.Redis.HSet(ctx, Key("byhand"), "status", "active").Err(); err != nil {
		t.Fatal(err)
	}
	if code, p := call(http.MethodPut, "byhand", `{"status":"active"}`); code != http.StatusOK || p.EmailConfirmed {
		t.Fatalf("PUT over an entry without email_confirmed: %d %+v", code, p)
	}
	if v, err := reg.Redis.HGet(ctx, Key("byhand"), FieldEmailConfirmed).Result(); err != nil || v != "false" {
		t.Fatalf("stored email_confirmed %q, %v", v, err)
	}
}

// Malformed bodies are refused as before.
func TestAdminPutRejects(t *testing.T) {
	_, call := adminFixture(t)
	for _, body := range []string{`{"status":"active","email_confirmed":"yes"}`, `{"status":"gone"}`, `{"status":"active","extra":1}`} {
		if code, _ := call(http.MethodPut, "p2", body); code != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", body, code)
		}
	}
}

// Upsert stores email_confirmed as given and never lets an older event win.
func TestUpsertEmailConfirmed(t *testing.T) {
	reg := &Registry{Redis: testenv.Redis(t)}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for _, p := range []Partner{
		{ID: "p", Status: Active, EmailConfirmed: true, UpdatedAt: t0},
		{ID: "p", Status: Active, EmailConfirmed: false, UpdatedAt: t0.Add(-time.Second)}, // older: ignored
	} {
		if err := reg.Upsert(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := reg.Get(ctx, "p"); err != nil || !p.EmailConfirmed || !p.UpdatedAt.Equal(t0) {
		t.Fatalf("%+v, %v", p, err)
	}
	if err := reg.Upsert(ctx, Partner{ID: "p", Status: Active, EmailConfirmed: false, UpdatedAt: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if p, err := reg.Get(ctx, "p"); err != nil || p.EmailConfirmed {
		t.Fatalf("%+v, %v", p, err)
	}
}
