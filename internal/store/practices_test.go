package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

func mk(ods, name string) practice.Practice {
	return practice.Practice{ODSCode: ods, Name: name, ASID: "918999198993", Endpoint: "https://p.example/" + ods + "/STU3/1/gpconnect"}
}

func TestImportPracticesUpsertsAndDeactivates(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()

	res, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg"), mk("B81016", "Two")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.ImportResult{Inserted: 2}, res); diff != "" {
		t.Fatalf("first import (-want +got):\n%s", diff)
	}
	res, err = db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg renamed"), mk("M85015", "Three")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.ImportResult{Inserted: 1, Updated: 1, Deactivated: 1}, res); diff != "" {
		t.Fatalf("second import (-want +got):\n%s", diff)
	}
	all, err := db.ListPractices(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range all {
		got[p.ODSCode] = p.Active
	}
	if diff := cmp.Diff(map[string]bool{"A20047": true, "B81016": false, "M85015": true}, got); diff != "" {
		t.Fatalf("active flags (-want +got):\n%s", diff)
	}
	res, err = db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg renamed"), mk("M85015", "Three")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(store.ImportResult{Unchanged: 2}, res); diff != "" {
		t.Fatalf("idempotent re-import (-want +got):\n%s", diff)
	}
}
