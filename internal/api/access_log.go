package api

import (
	"context"
	"errors"

	"github.com/gpfed/gpfed/internal/batch"
	"github.com/gpfed/gpfed/internal/store"
)

// AccessLog writes the access records of concurrent requests together
// (group commit): each request still waits until its own record is
// committed before its answer leaves, but requests arriving while a group
// is being written share the next INSERT and commit instead of paying one
// each. Build it with NewAccessLog and run it (Run) for as long as the
// server serves, stopping it after the HTTP server.
type AccessLog struct {
	db    *store.DB
	group *batch.Group[store.AccessRecord, error]
}

// Records per group and groups in flight at once.
const (
	accessLogBatch    = 128
	accessLogFlushers = 2
)

// NewAccessLog returns an access log writing to db.
func NewAccessLog(db *store.DB) *AccessLog {
	l := &AccessLog{db: db}
	l.group = batch.New(l.write, accessLogBatch, accessLogFlushers)
	return l
}

// Run writes groups until ctx ends, then writes what is still waiting.
func (l *AccessLog) Run(ctx context.Context) { l.group.Run(ctx) }

// Record writes rec and returns once it is committed (or failed).
func (l *AccessLog) Record(ctx context.Context, rec store.AccessRecord) error {
	err, gerr := l.group.Do(ctx, rec)
	if errors.Is(gerr, batch.ErrClosed) {
		return l.db.RecordAccess(ctx, rec) // stopping: write it alone
	}
	if gerr != nil {
		return gerr
	}
	return err
}

// write inserts one group. A failure that is not the database being
// unreachable is retried in halves, so one bad record costs no other
// record its place (and a few extra inserts, not one per record).
func (l *AccessLog) write(ctx context.Context, recs []store.AccessRecord) ([]error, error) {
	ctx, cancel := context.WithTimeout(ctx, auditTimeout)
	defer cancel()
	errs := make([]error, len(recs))
	if err := l.writeSplit(ctx, recs, errs); err != nil {
		return nil, err
	}
	return errs, nil
}

// writeSplit writes recs, filling errs with each record's own failure; it
// returns an error only when the whole attempt must fail.
func (l *AccessLog) writeSplit(ctx context.Context, recs []store.AccessRecord, errs []error) error {
	err := l.db.RecordAccesses(ctx, recs)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil:
		return err
	case len(recs) == 1:
		errs[0] = err
		return nil
	}
	half := len(recs) / 2
	if err := l.writeSplit(ctx, recs[:half], errs[:half]); err != nil {
		return err
	}
	return l.writeSplit(ctx, recs[half:], errs[half:])
}
