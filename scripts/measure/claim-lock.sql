-- Samples the delivery engine's claim lock (an advisory lock; nothing else
-- of gpfed's holds one while bench/tasks runs) every 5 ms, 2,500 times, and
-- prints how often it was held and how many sessions waited for it. Run it
-- against the benchmark's cluster while a bench/tasks phase is running:
--
--   go run ./bench/tasks -phases closed,latency -rate 80% -duration 30s &
--   # once the log shows [3]:
--   psql "$DATABASE_URL" -f scripts/measure/claim-lock.sql
CREATE TEMP TABLE claim_lock_samples (held int, waiting int);
DO $$
BEGIN
	FOR i IN 1..2500 LOOP
		INSERT INTO claim_lock_samples
		SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)
		FROM pg_locks WHERE locktype = 'advisory';
		PERFORM pg_sleep(0.005);
	END LOOP;
END $$;
SELECT count(*) AS samples, round(avg((held > 0)::int), 4) AS held_share, round(avg(waiting), 2) AS mean_waiting
FROM claim_lock_samples;
