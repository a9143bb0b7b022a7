package engine

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// checkPublished compares the published catalog (what Tables and
// Databases read without the lock) with the catalog itself, under the
// lock: the same databases, tables and columns, in the same order.
func checkPublished(t *testing.T, e *Engine, when string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.pub.view.Load()
	if v == nil {
		t.Fatalf("%s: no catalog published", when)
	}
	for db, tables := range e.catalog {
		pub, ok := v.dbs[db]
		if !ok {
			t.Errorf("%s: database %s not published", when, db)
			continue
		}
		for name, s := range tables {
			p, ok := pub[name]
			if !ok {
				t.Errorf("%s: table %s.%s not published", when, db, name)
				continue
			}
			if !slices.Equal(p.Tags, s.Tags) || !slices.Equal(p.Fields, s.Fields) {
				t.Errorf("%s: %s.%s published with tags %v fields %v, catalog has %v %v",
					when, db, name, p.Tags, p.Fields, s.Tags, s.Fields)
			}
		}
		for name := range pub {
			if tables[name] == nil {
				t.Errorf("%s: table %s.%s published but not in the catalog", when, db, name)
			}
		}
	}
	for db := range v.dbs {
		if e.catalog[db] == nil {
			t.Errorf("%s: database %s published but not in the catalog", when, db)
		}
	}
}

// writeCols writes one row to db.table with tag "host" and the named
// float fields.
func writeCols(e *Engine, db, table string, ts int64, fields ...string) (int, error) {
	var b columnar.Batch
	b.StartRow([]byte(table), 1)
	b.AddTag([]byte("host"), []byte("a"))
	for i, f := range fields {
		b.AddFloat([]byte(f), float64(i))
	}
	b.EndRow(ts)
	res, err := e.Write(db, &b)
	return len(res.Rejected), err
}

// TestPublishedCatalogFollowsEveryChange goes through every kind of
// catalog change — new database, table and column, a rejected row's and a
// failed WAL append's undo, table and database drops, CREATE DATABASE,
// recovery with a replayed drop — and after each compares what Tables
// reads without the lock with the catalog under it.
func TestPublishedCatalogFollowsEveryChange(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	checkPublished(t, e, "empty")
	if _, err := writeCols(e, "db", "cpu", 1, "v"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, e, "new database")
	if _, err := writeCols(e, "db", "mem", 1, "v"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, e, "new table")
	if _, err := writeCols(e, "db", "cpu", 2, "v", "w"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, e, "new column")
	if tables, _ := e.Tables("db"); tables["cpu"] == nil || !slices.ContainsFunc(tables["cpu"].Fields, func(f columnar.FieldSchema) bool { return f.Name == "w" }) {
		t.Fatalf("column w of an acknowledged write is not in Tables: %+v", tables["cpu"])
	}

	// A row rejected (v is a float) after adding a column: undone.
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddFloat([]byte("x"), 1)
	b.AddNum([]byte("v"), columnar.FieldInt, 1)
	b.EndRow(3)
	if res, err := e.Write("db", &b); err != nil || len(res.Rejected) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	checkPublished(t, e, "rejected row")
	if n, err := writeCols(e, "other", "t", 1, "time"); err != nil || n != 1 {
		t.Fatalf("reserved field name: %d rejected, %v", n, err)
	}
	checkPublished(t, e, "rejected row in a new database")
	if dbs := e.Databases(); !slices.Equal(dbs, []string{"db"}) {
		t.Errorf("databases %v after rejected writes, want [db]", dbs)
	}

	if err := e.DropTable("db", "mem"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, e, "drop table")
	if tables, _ := e.Tables("db"); tables["mem"] != nil {
		t.Error("Tables has a dropped table")
	}
	if err := e.CreateDatabase("made"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, e, "create database")
	if _, ok := e.Tables("made"); !ok {
		t.Error("Tables does not have a created database")
	}
	if _, err := writeCols(e, "gone", "t", 1, "v"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropDatabase("gone"); err != nil {
		t.Fatal(err)
	}
	checkPublished(t, e, "drop database")
	if _, ok := e.Tables("gone"); ok {
		t.Error("Tables has a dropped database")
	}
	if _, err := writeCols(e, "db", "late", 1, "v"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropTable("db", "late"); err != nil {
		t.Fatal(err)
	}

	// Recovery: the manifest's schemas and the WAL's writes and drops.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	checkPublished(t, e, "reopen")
	if tables, ok := e.Tables("db"); !ok || len(tables) != 1 || len(tables["cpu"].Fields) != 2 {
		t.Errorf("after reopen Tables(db) = %v %v, want cpu with 2 fields", tables, ok)
	}

	// The WAL refuses the append: the new table and column are undone.
	e.mu.Lock()
	_ = e.wal.Close()
	e.mu.Unlock()
	if _, err := writeCols(e, "db", "cpu", 9, "v", "fresh"); err == nil {
		t.Fatal("write to a closed WAL succeeded")
	}
	if _, err := writeCols(e, "db", "newtable", 9, "v"); err == nil {
		t.Fatal("write to a closed WAL succeeded")
	}
	checkPublished(t, e, "failed WAL append")
}

// TestTablesConcurrentWritesDrops: writers add tables and columns and
// drop tables and databases while readers call Tables and Databases
// without the engine's lock; every column of a write acknowledged before
// a read began must be in what it reads, no table or database whose drop
// was acknowledged before, and each snapshot must index its own columns
// (run with -race: the published maps are read while others are made).
func TestTablesConcurrentWritesDrops(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	const writers, tablesPer, colsPer, dbCycles = 3, 12, 4, 8

	// What was acknowledged: table → fields written; dropped tables and
	// databases. A table or database is marked dropping when its drop
	// starts: a read that overlaps the drop may see it or not.
	var mu sync.Mutex
	acked := map[string]int{}
	droppedT := map[string]bool{}
	ackedDB := map[string]bool{}
	droppedDB := map[string]bool{}
	dropping := map[string]bool{}

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tablesPer {
				table := fmt.Sprintf("w%d_t%d", w, i)
				var fields []string
				for k := range colsPer {
					fields = append(fields, fmt.Sprintf("f%d", k))
					if n, err := writeCols(e, "d", table, int64(k+1), fields...); err != nil || n != 0 {
						t.Errorf("write %s: %d rejected, %v", table, n, err)
						return
					}
					mu.Lock()
					acked[table] = len(fields)
					mu.Unlock()
				}
				if i%2 == 1 {
					mu.Lock()
					dropping[table] = true
					mu.Unlock()
					if err := e.DropTable("d", table); err != nil {
						t.Errorf("drop %s: %v", table, err)
						return
					}
					mu.Lock()
					droppedT[table] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for j := range dbCycles {
			db := fmt.Sprintf("cyc%d", j)
			if _, err := writeCols(e, db, "t", 1, "v"); err != nil {
				t.Errorf("write %s: %v", db, err)
				return
			}
			mu.Lock()
			ackedDB[db] = true
			mu.Unlock()
			if j%2 == 0 {
				continue
			}
			mu.Lock()
			dropping[db] = true
			mu.Unlock()
			if err := e.DropDatabase(db); err != nil {
				t.Errorf("drop %s: %v", db, err)
				return
			}
			mu.Lock()
			droppedDB[db] = true
			mu.Unlock()
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var rg sync.WaitGroup
	for range 2 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for reading := true; reading; {
				select {
				case <-done:
					reading = false // one more read, after every write
				default:
				}
				// What was acknowledged before the reads below began.
				mu.Lock()
				want := maps.Clone(acked)
				gone := maps.Clone(droppedT)
				dbs := maps.Clone(ackedDB)
				goneDB := maps.Clone(droppedDB)
				mu.Unlock()

				tables, ok := e.Tables("d")
				names := e.Databases()
				dbTables := map[string]bool{}
				for db := range dbs {
					_, dbTables[db] = e.Tables(db)
				}
				goneTables := map[string]bool{}
				for db := range goneDB {
					_, goneTables[db] = e.Tables(db)
				}
				// Drops begun before the reads ended: not required.
				mu.Lock()
				for name := range dropping {
					delete(want, name)
					delete(dbs, name)
				}
				mu.Unlock()
				if !ok && len(want)+len(gone) > 0 {
					t.Error("database d missing after acknowledged writes")
					return
				}
				for table, n := range want {
					s := tables[table]
					if s == nil {
						t.Errorf("table %s of an acknowledged write missing", table)
						return
					}
					for k := range n {
						if _, ok := s.FieldCol(fmt.Sprintf("f%d", k)); !ok {
							t.Errorf("%s: field f%d of an acknowledged write missing (fields %v)", table, k, s.Fields)
							return
						}
					}
				}
				for table := range gone {
					if tables[table] != nil {
						t.Errorf("table %s present after its drop was acknowledged", table)
						return
					}
				}
				for _, s := range tables {
					for i, f := range s.Fields {
						if c, ok := s.FieldCol(f.Name); !ok || c != i {
							t.Errorf("snapshot: field %q at %d %v, want %d", f.Name, c, ok, i)
							return
						}
					}
				}
				for db := range dbs {
					if !slices.Contains(names, db) {
						t.Errorf("database %s of an acknowledged write missing from %v", db, names)
						return
					}
					if !dbTables[db] {
						t.Errorf("Tables(%s) missing after an acknowledged write", db)
						return
					}
				}
				for db := range goneDB {
					if goneTables[db] || slices.Contains(names, db) {
						t.Errorf("database %s present after its drop was acknowledged", db)
						return
					}
				}
			}
		}()
	}
	rg.Wait()
	checkPublished(t, e, "after the writers")
	tables, _ := e.Tables("d")
	if len(tables) != writers*tablesPer/2 {
		t.Errorf("%d tables left, want %d", len(tables), writers*tablesPer/2)
	}
}
