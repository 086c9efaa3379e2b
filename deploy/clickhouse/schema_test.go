package clickhouse

import (
	"errors"
	"strings"
	"testing"
)

func TestAlreadyDone(t *testing.T) {
	// The messages of ClickHouse 18.16, of a current release, and of 18.16 through ON CLUSTER.
	old := errors.New("code: 44, message: Cannot add column v_x: column with this name already exists")
	cur := errors.New("code: 15, message: Cannot add column `v_x`: column with this name already exists. (DUPLICATE_COLUMN)")
	dist := errors.New("code: 44, message: There was an error on [ch2:9000]: Code: 44, e.displayText() = DB::Exception: Cannot add column v_x: column with this name already exists")
	other := errors.New("code: 60, message: Table db.t doesn't exist.")
	f := func(stmt string, err error, want bool) {
		t.Helper()
		if got := AlreadyDone(stmt, err); got != want {
			t.Errorf("AlreadyDone(%q, %v) = %v, want %v", stmt, err, got, want)
		}
	}
	for _, err := range []error{old, cur, dist} {
		f("ALTER TABLE db.t ADD COLUMN v_x UInt64", err, true)
		f("alter table db.t_local on cluster c add column `v_x` UInt64 DEFAULT 0", err, true)
		f("ALTER TABLE db.t ADD COLUMN v_x Decimal(10, 2)", err, true)
		// Another column, or more than one action: the server refused all of it.
		f("ALTER TABLE db.t ADD COLUMN v_y UInt64", err, false)
		f("ALTER TABLE db.t ADD COLUMN v_x UInt64, ADD COLUMN v_z UInt64", err, false)
		f("ALTER TABLE db.t ADD COLUMN v_x UInt64, MODIFY COLUMN v_y String", err, false)
		// Not an ADD COLUMN.
		f("CREATE TABLE IF NOT EXISTS db.t (v_x UInt64) ENGINE = Memory", err, false)
		f("ALTER TABLE db.t MODIFY COLUMN v_x String", err, false)
	}
	f("ALTER TABLE db.t ADD COLUMN v_x UInt64", other, false)
	f("ALTER TABLE db.t ADD COLUMN v_x UInt64", nil, false)
}

// Every ADD COLUMN in the embedded migrations is one AlreadyDone can recognise as
// applied, so a migration cut short can run again.
func TestMigrationAltersRepeatable(t *testing.T) {
	migs, err := Migrations("db")
	if err != nil {
		t.Fatal(err)
	}
	exists := errors.New("Cannot add column X: column with this name already exists")
	n := 0
	for _, m := range migs {
		for _, s := range m.Statements {
			if !strings.Contains(strings.ToUpper(s), "ADD COLUMN") {
				continue
			}
			col := addColumn.FindStringSubmatch(s)
			if col == nil || !AlreadyDone(s, errors.New(strings.Replace(exists.Error(), "X", col[1], 1))) {
				t.Errorf("%s: %q cannot be run twice", m.Name, s)
			}
			n++
		}
	}
	if n == 0 {
		t.Error("no ADD COLUMN in the migrations")
	}
}
