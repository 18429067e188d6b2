package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// ServerFull reports whether err is Postgres refusing a connection because
// it has max_connections clients already (53300, "too many clients"): a
// state that usually passes within seconds, unlike a wrong DATABASE_URL.
func ServerFull(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "53300"
}
