package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// CapacityRow is one practice-day of free bookable capacity.
type CapacityRow struct {
	ODSCode           string         `json:"ods_code"`
	PracticeName      string         `json:"practice_name"`
	Date              string         `json:"date"`
	FreeSlots         int            `json:"free_slots"`
	FreeMinutes       int            `json:"free_minutes"`
	ByDeliveryChannel map[string]int `json:"by_delivery_channel"`
	ByRole            map[string]int `json:"by_role"`
}

// CapacityFilter selects capacity rows. From and To are UK local dates, To
// inclusive. Role, DeliveryChannel and Site match the keys of the by_* maps,
// so "unspecified" selects slots that carry no value.
type CapacityFilter struct {
	From, To        time.Time
	Practices       []string
	Role            string
	DeliveryChannel string
	Site            string
}

// Capacity returns rows sorted by ods_code, date for active practices. With
// no slot-level filter it reads the capacity_daily aggregates; with a role,
// channel or site filter it aggregates the slot snapshot directly.
func (db *DB) Capacity(ctx context.Context, f CapacityFilter) ([]CapacityRow, error) {
	from, to := f.From.Format(time.DateOnly), f.To.Format(time.DateOnly)
	var rows pgx.Rows
	var err error
	if f.Role == "" && f.DeliveryChannel == "" && f.Site == "" {
		rows, err = db.Pool.Query(ctx, `
			SELECT c.ods_code, p.name, c.local_date, c.free_slots, c.free_minutes, c.by_delivery_channel, c.by_role
			FROM capacity_daily c JOIN practices p USING (ods_code)
			WHERE p.active AND c.local_date BETWEEN $1::date AND $2::date
			  AND (COALESCE(cardinality($3::text[]), 0) = 0 OR c.ods_code = ANY($3))
			ORDER BY c.ods_code, c.local_date`, from, to, f.Practices)
	} else {
		rows, err = db.Pool.Query(ctx, `
			WITH s AS (
				SELECT s.*, p.name AS practice_name FROM slots s JOIN practices p USING (ods_code)
				WHERE p.active AND s.local_date BETWEEN $1::date AND $2::date AND `+startsOnDates("$1", "$2")+`
				  AND (COALESCE(cardinality($3::text[]), 0) = 0 OR s.ods_code = ANY($3))
				  AND ($4 = '' OR COALESCE(NULLIF(s.role_code, ''), 'unspecified') = $4)
				  AND ($5 = '' OR COALESCE(NULLIF(s.delivery_channel, ''), 'unspecified') = $5)
				  AND ($6 = '' OR COALESCE(NULLIF(s.site_name, ''), 'unspecified') = $6 OR s.location_id = $6)
			)
			SELECT d.ods_code, d.practice_name, d.local_date, d.n, d.mins,
				COALESCE((SELECT jsonb_object_agg(k, v) FROM (SELECT COALESCE(NULLIF(delivery_channel, ''), 'unspecified') k, count(*) v
					FROM s x WHERE x.ods_code = d.ods_code AND x.local_date = d.local_date GROUP BY 1) a), '{}'),
				COALESCE((SELECT jsonb_object_agg(k, v) FROM (SELECT COALESCE(NULLIF(role_code, ''), 'unspecified') k, count(*) v
					FROM s x WHERE x.ods_code = d.ods_code AND x.local_date = d.local_date GROUP BY 1) b), '{}')
			FROM (SELECT ods_code, practice_name, local_date, count(*) n, sum(duration_minutes) mins FROM s GROUP BY 1, 2, 3) d
			ORDER BY d.ods_code, d.local_date`, from, to, f.Practices, f.Role, f.DeliveryChannel, f.Site)
	}
	if err != nil {
		return nil, translate(fmt.Errorf("query capacity: %w", err))
	}
	defer rows.Close()
	out := []CapacityRow{}
	for rows.Next() {
		var r CapacityRow
		var date time.Time
		var byCh, byRole []byte
		if err := rows.Scan(&r.ODSCode, &r.PracticeName, &date, &r.FreeSlots, &r.FreeMinutes, &byCh, &byRole); err != nil {
			return nil, translate(err)
		}
		r.Date = date.Format(time.DateOnly)
		if err := json.Unmarshal(byCh, &r.ByDeliveryChannel); err != nil {
			return nil, fmt.Errorf("decode by_delivery_channel: %w", err)
		}
		if err := json.Unmarshal(byRole, &r.ByRole); err != nil {
			return nil, fmt.Errorf("decode by_role: %w", err)
		}
		out = append(out, r)
	}
	return out, translate(rows.Err())
}
