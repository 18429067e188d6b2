-- What a page of GET /v1/slots costs on a synthetic region (6,500 practices,
-- 2.21M slots on weekdays over 28 days, 17 start times a day): EXPLAIN
-- ANALYZE of ListFreeSlots' statement (internal/store/bookings_slots.go; keep
-- the two in step) for a first page, a deep page and one day. Run it on a
-- scratch database migrated by gpfed, with the index as main has it, then
-- again after the experiment at the end:
--
--   createdb gpfed_listing && DATABASE_URL=postgres:///gpfed_listing bin/gpfed migrate
--   psql postgres:///gpfed_listing -f scripts/measure/slots-listing.sql
--   psql postgres:///gpfed_listing -c 'DROP INDEX slots_start_idx' \
--        -c 'CREATE INDEX slots_start_idx ON slots (start_at)'
--   psql postgres:///gpfed_listing -v skip_load=1 -f scripts/measure/slots-listing.sql
\if :{?skip_load}
\else
INSERT INTO practices (ods_code, name, active)
SELECT 'P' || lpad(i::text, 5, '0'), 'Practice ' || i, true FROM generate_series(1, 6500) i;
INSERT INTO slots (ods_code, slot_id, start_at, end_at, local_date, duration_minutes, first_seen_at)
SELECT 'P' || lpad(p::text, 5, '0'), 'slot-' || d || '-' || k, ts, ts + interval '10 minutes', ts::date, 10, now()
FROM generate_series(1, 6500) p, generate_series(0, 27) d, generate_series(0, 16) k,
	LATERAL (SELECT (date '2026-12-01' + d) + time '08:00' + k * interval '15 minutes'
		+ (p % 3) * interval '5 minutes' AS ts) t
WHERE extract(isodow FROM date '2026-12-01' + d) < 6;
ANALYZE slots;
ANALYZE practices;
\endif
SELECT count(*) AS slots, pg_size_pretty(pg_relation_size('slots_start_idx')) AS start_index FROM slots;
PREPARE lf(timestamptz, text, text, text[], text, text, timestamptz, text, text, int) AS
SELECT s.ods_code, p.name, s.slot_id, s.start_at, s.end_at, s.start_text, s.end_text,
	to_char(s.local_date, 'YYYY-MM-DD'), s.duration_minutes, s.schedule_id, s.location_id, s.site_name,
	s.practitioner_id, s.practitioner_name, s.role_code, s.role_display, s.delivery_channel, s.slot_type,
	COALESCE(p.telephone, ''), COALESCE(p.endpoint, ''), COALESCE(p.asid, ''), p.temporary_registration, st.last_success_at
FROM slots s JOIN practices p USING (ods_code)
	LEFT JOIN practice_sync_state st ON st.ods_code = s.ods_code
WHERE p.active AND s.start_at > $1 AND s.local_date BETWEEN $2::date AND $3::date
	AND s.start_at >= ($2::date::timestamp AT TIME ZONE 'Europe/London')
	AND s.start_at < (($3::date + 1)::timestamp AT TIME ZONE 'Europe/London')
	AND (COALESCE(cardinality($4::text[]), 0) = 0 OR s.ods_code = ANY($4))
	AND ($5 = '' OR COALESCE(NULLIF(s.role_code, ''), 'unspecified') = $5)
	AND ($6 = '' OR COALESCE(NULLIF(s.delivery_channel, ''), 'unspecified') = $6)
	AND ($7::timestamptz IS NULL OR (s.start_at, s.ods_code, s.slot_id) > ($7, $8, $9))
	AND NOT EXISTS (SELECT 1 FROM bookings bk WHERE bk.host_ods = s.ods_code AND bk.slot_id = s.slot_id
		AND bk.state IN ('pending', 'booked', 'unconfirmed', 'cancel_requested'))
ORDER BY s.start_at, s.ods_code, s.slot_id LIMIT $10;
EXPLAIN (ANALYZE, BUFFERS) EXECUTE lf('2026-12-01 00:00+00', '2026-12-01', '2026-12-28', NULL, '', '', NULL, '', '', 50);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE lf('2026-12-01 00:00+00', '2026-12-01', '2026-12-28', NULL, '', '', '2026-12-15 10:00+00', 'P03000', 'slot-14-8', 50);
EXPLAIN (ANALYZE, BUFFERS) EXECUTE lf('2026-12-01 00:00+00', '2026-12-14', '2026-12-14', NULL, '', '', NULL, '', '', 50);
