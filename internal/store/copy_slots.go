package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// copySlots writes rows into slots with COPY ... (FORMAT binary), encoding them directly from
// the records. pgx's generic CopyFrom boxes every value in an interface and looks its encoder up
// per value; this is the hot loop of a sync (millions of rows a night for a region), so it
// writes the wire format itself: per row 20 length-prefixed fields, no allocation.
// Several practices' rows go in one COPY (a group of snapshots saved together).
func copySlots(ctx context.Context, tx pgx.Tx, parts []slotRows, now time.Time) error {
	return copySlotsSQLInto(ctx, tx, copySlotsSQL, parts, now)
}

// slotRows are one practice's rows to copy in.
type slotRows struct {
	ods   string
	runID int64
	rows  []insertRow
}

func copySlotsSQLInto(ctx context.Context, tx pgx.Tx, sql string, parts []slotRows, now time.Time) error {
	n := 0
	for _, p := range parts {
		n += len(p.rows)
	}
	if n == 0 {
		return nil
	}
	r := copyReader{parts: parts, now: now}
	if len(parts) > 1 {
		r.order = startOrder(parts, n)
	}
	r.e.buf = &r.buf
	r.e.header()
	_, err := tx.Conn().PgConn().CopyFrom(ctx, &r, sql)
	if err != nil {
		return fmt.Errorf("copy slots: %w", err)
	}
	return nil
}

// rowRef is a row of a group's COPY: parts[part].rows[row].
type rowRef struct {
	start     int64
	part, row int32
}

// startOrder orders a group's rows by start time. slots_start_idx is keyed
// by start time first, so a group copied practice by practice inserts each
// practice's slots all over that index (a region's is larger than shared
// buffers); in start order the group's practices insert side by side, the
// same leaf pages taking the rows of every practice of the group at once.
func startOrder(parts []slotRows, n int) []rowRef {
	order := make([]rowRef, 0, n)
	for p, pr := range parts {
		for i, row := range pr.rows {
			order = append(order, rowRef{start: row.Start.UnixNano(), part: int32(p), row: int32(i)})
		}
	}
	slices.SortFunc(order, func(a, b rowRef) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.part, b.part), cmp.Compare(a.row, b.row))
	})
	return order
}

// copyReader encodes rows as COPY reads them, a chunk at a time, so that a
// group of practices (thousands of rows) never sits in memory encoded whole.
type copyReader struct {
	parts     []slotRows
	part, row int
	order     []rowRef // when set, the rows in this order (next is r.row)
	now       time.Time
	buf       bytes.Buffer
	e         copyEncoder
	done      bool
}

// next returns the next row to encode and its practice (in order when it is
// set, else practice by practice), or false when none is left.
func (r *copyReader) next() (*slotRows, insertRow, bool) {
	if r.order != nil {
		if r.row == len(r.order) {
			return nil, insertRow{}, false
		}
		ref := r.order[r.row]
		r.row++
		pr := &r.parts[ref.part]
		return pr, pr.rows[ref.row], true
	}
	for r.part < len(r.parts) && r.row == len(r.parts[r.part].rows) {
		r.part, r.row = r.part+1, 0
	}
	if r.part == len(r.parts) {
		return nil, insertRow{}, false
	}
	pr := &r.parts[r.part]
	r.row++
	return pr, pr.rows[r.row-1], true
}

// copyChunk is how much encoded data a Read prepares at most (pgconn reads
// 64 KiB at a time).
const copyChunk = 64 << 10

func (r *copyReader) Read(p []byte) (int, error) {
	for r.buf.Len() < min(len(p), copyChunk) && !r.done {
		pr, row, ok := r.next()
		if !ok {
			r.e.trailer()
			r.done = true
			break
		}
		if err := r.e.slot(pr.ods, pr.runID, row, r.now); err != nil {
			return 0, err
		}
	}
	if r.buf.Len() == 0 && r.done {
		return 0, io.EOF
	}
	return r.buf.Read(p)
}

const copySlotsSQLFor = `COPY %s (ods_code, slot_id, start_at, end_at, start_text, end_text, local_date,
	duration_minutes, location_id, site_name, schedule_id, session_name, practitioner_id, practitioner_name, role_code,
	role_display, delivery_channel, slot_type, first_seen_at, first_run_id) FROM STDIN WITH (FORMAT binary)`

var copySlotsSQL = fmt.Sprintf(copySlotsSQLFor, "slots")

// copyEncoder writes PostgreSQL's binary COPY format.
type copyEncoder struct {
	buf *bytes.Buffer
	tmp [8]byte
}

// pgEpoch is the zero of PostgreSQL's timestamp and date encodings.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (e *copyEncoder) header() {
	e.buf.WriteString("PGCOPY\n\xff\r\n\x00")
	e.buf.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0}) // flags, header extension length
}

func (e *copyEncoder) trailer() { e.int16(-1) }

func (e *copyEncoder) int16(v int16) {
	binary.BigEndian.PutUint16(e.tmp[:2], uint16(v))
	e.buf.Write(e.tmp[:2])
}

func (e *copyEncoder) int32(v int32) {
	binary.BigEndian.PutUint32(e.tmp[:4], uint32(v))
	e.buf.Write(e.tmp[:4])
}

func (e *copyEncoder) int64(v int64) {
	binary.BigEndian.PutUint64(e.tmp[:8], uint64(v))
	e.buf.Write(e.tmp[:8])
}

func (e *copyEncoder) text(s string) {
	e.int32(int32(len(s)))
	e.buf.WriteString(s)
}

// timestamptz is microseconds since 2000-01-01 UTC.
func (e *copyEncoder) timestamptz(t time.Time) {
	e.int32(8)
	e.int64(t.Sub(pgEpoch).Microseconds())
}

func (e *copyEncoder) slot(ods string, runID int64, s insertRow, now time.Time) error {
	days, err := pgDate(s.LocalDate)
	if err != nil {
		return fmt.Errorf("slot %s: local date %q: %w", s.ID, s.LocalDate, err)
	}
	firstSeen, firstRun := s.firstSeen, s.firstRun
	if firstSeen.IsZero() {
		firstSeen, firstRun = now, &runID
	}
	e.int16(20)
	e.text(ods)
	e.text(s.ID)
	e.timestamptz(s.Start)
	e.timestamptz(s.End)
	e.text(s.StartText)
	e.text(s.EndText)
	e.int32(4)
	e.int32(days)
	e.int32(4)
	e.int32(int32(s.DurationMinutes))
	for _, v := range [...]string{s.LocationID, s.SiteName, s.ScheduleID, s.SessionName, s.PractitionerID,
		s.PractitionerName, s.RoleCode, s.RoleDisplay, s.DeliveryChannel, s.SlotType} {
		e.text(v)
	}
	e.timestamptz(firstSeen)
	if firstRun == nil {
		e.int32(-1)
	} else {
		e.int32(8)
		e.int64(*firstRun)
	}
	return nil
}

// pgDate turns YYYY-MM-DD into days since 2000-01-01, strictly.
func pgDate(s string) (int32, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, err
	}
	return int32(d.Sub(pgEpoch) / (24 * time.Hour)), nil
}
