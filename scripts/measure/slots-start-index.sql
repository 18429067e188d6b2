-- The experiment of docs/BENCHMARKS.md (session 8): slots_start_idx on
-- start_at alone. To measure a sync with it, build a binary with this file
-- copied to migrations/0110_slots_start_index.sql and compare the two:
--   scripts/ab-bench.sh sync 2 <main's binary> <that one> -practices 6500 -latency 200ms \
--       -limit-time 5s -limit-order ascending
-- Session 9 also measured (start_at, ods_code) the same way (no clear gain:
-- its keys are nearly unique, so they do not deduplicate).
DROP INDEX slots_start_idx;
CREATE INDEX slots_start_idx ON slots (start_at);
