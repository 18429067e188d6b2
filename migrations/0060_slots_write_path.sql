-- A regional sync writes millions of slots a night, and keeping the indexes
-- on slots is half of Postgres's work in it (a profile of a 6,500-practice
-- sync: 28% of the whole machine's CPU in index insertion, 2% in the heap).
-- Loading 3.0M slots of a simulated region in one COPY, per slot: the heap
-- 3.3 µs, the primary key 4.6 µs, (local_date, ods_code) 4.6 µs,
-- (start_at, ods_code, slot_id) 8.4 µs.
--
-- The (local_date, ods_code) index goes: a practice's slots are read through
-- the primary key (ods_code first), and the queries that select slots of the
-- whole federation by UK local date also bound start_at to those dates
-- (local_date is start_at's date in Europe/London), which slots_start_idx
-- serves.
DROP INDEX slots_date_idx;

-- A practice's first snapshot inserts ~460 rows, a region's first sync
-- millions, and a sync after it deletes the slots that went: the dead rows
-- bring autovacuum when there is work for it. Vacuums triggered by inserts
-- alone (PostgreSQL 13+) only set visibility bits no query on slots uses,
-- and start in the middle of the first load.
ALTER TABLE slots SET (autovacuum_vacuum_insert_threshold = -1);
