package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/testdb"
)

// uuid.UUID values, arrays of them and NULLs travel in binary and come back
// unchanged, and Postgres sees the same values as their text form.
func TestUUIDsRoundTrip(t *testing.T) {
	t.Parallel()
	db, _ := testdb.New(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	var got uuid.UUID
	var text string
	var arr []uuid.UUID
	var null *uuid.UUID
	var some *uuid.UUID
	err := db.Pool.QueryRow(ctx, `SELECT $1::uuid, $1::uuid::text, $2::uuid[], NULL::uuid, $3::uuid`,
		a, []uuid.UUID{a, b, uuid.Nil}, b).Scan(&got, &text, &arr, &null, &some)
	if err != nil {
		t.Fatal(err)
	}
	if got != a || text != a.String() {
		t.Errorf("uuid = %v (%s), want %v", got, text, a)
	}
	if len(arr) != 3 || arr[0] != a || arr[1] != b || arr[2] != uuid.Nil {
		t.Errorf("uuid[] = %v", arr)
	}
	if null != nil || some == nil || *some != b {
		t.Errorf("nullable = %v, %v", null, some)
	}
	if err := db.Pool.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&got); err == nil {
		t.Error("NULL scanned into uuid.UUID without an error")
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::uuid[]) u WHERE u::text = ANY($2)`,
		[]uuid.UUID{a, b}, []string{a.String(), b.String()}).Scan(&n); err != nil || n != 2 {
		t.Errorf("matched by text = %d, %v", n, err)
	}
}
