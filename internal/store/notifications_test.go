package store_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

func TestCreateNotificationTxCoalesces(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	if _, err := db.ImportPractices(ctx, []practice.Practice{mk("A20047", "Legg")}, false); err != nil {
		t.Fatal(err)
	}
	create := func(key string) bool {
		t.Helper()
		var created bool
		err := db.InTx(ctx, func(tx pgx.Tx) error {
			var err error
			created, err = store.CreateNotificationTx(ctx, tx, store.Notification{
				RecipientODS: "A20047", Kind: store.NotifyCapacityLow, SubjectODS: "A20047",
				Data: map[string]any{"free_minutes": 30}, CoalesceKey: key,
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return created
	}
	got := []bool{create("capacity.low:A20047:2026-01-05"), create("capacity.low:A20047:2026-01-05"), create(""), create("")}
	if diff := cmp.Diff([]bool{true, false, true, true}, got); diff != "" {
		t.Fatalf("created flags (-want +got):\n%s", diff)
	}
	var notes, queued int
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM notifications), (SELECT count(*) FROM delivery_queue WHERE kind = 'notification')`).Scan(&notes, &queued); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([2]int{3, 3}, [2]int{notes, queued}); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}
