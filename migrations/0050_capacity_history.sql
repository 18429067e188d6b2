-- Capacity as each successful fetch left it, for the planning view's trend
-- ("free capacity for the coming two weeks as it stood at each sync") and
-- the weekly board report (each past day's capacity as last synced).
-- capacity_daily keeps only the latest snapshot; these keep one entry per
-- practice per run that fetched it, pruned with the slot change history
-- (GPFED_HISTORY_RETENTION).
--
-- capacity_history_fetches says which dates a fetch covered: a date in
-- [window_from, window_to) with no capacity_history row had no free slot
-- (zero, known), a date outside it is unknown.
CREATE TABLE capacity_history_fetches (
    run_id        bigint NOT NULL,
    ods_code      text NOT NULL REFERENCES practices (ods_code),
    window_from   date NOT NULL,
    window_to     date NOT NULL, -- exclusive
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ods_code, run_id),
    CHECK (window_to > window_from)
);
CREATE INDEX capacity_history_fetches_recorded_idx ON capacity_history_fetches (recorded_at);

CREATE TABLE capacity_history (
    run_id        bigint NOT NULL,
    ods_code      text NOT NULL,
    local_date    date NOT NULL,
    free_slots    integer NOT NULL,
    free_minutes  integer NOT NULL,
    PRIMARY KEY (ods_code, run_id, local_date),
    FOREIGN KEY (ods_code, run_id) REFERENCES capacity_history_fetches (ods_code, run_id) ON DELETE CASCADE
);

-- Consumption reads removed slots by practice and time.
CREATE INDEX slot_changes_removed_idx ON slot_changes (changed_at, ods_code) WHERE change = 'removed';

-- Seed each practice's current snapshot as its first history entry, so the
-- trend has a starting point on an existing installation.
INSERT INTO capacity_history_fetches (run_id, ods_code, window_from, window_to, recorded_at)
SELECT COALESCE(s.last_run_id, 0), s.ods_code, s.window_from, s.window_to, s.last_success_at
FROM practice_sync_state s
WHERE s.window_from IS NOT NULL AND s.window_to > s.window_from AND s.last_success_at IS NOT NULL;

INSERT INTO capacity_history (run_id, ods_code, local_date, free_slots, free_minutes)
SELECT f.run_id, c.ods_code, c.local_date, c.free_slots, c.free_minutes
FROM capacity_daily c JOIN capacity_history_fetches f USING (ods_code)
WHERE c.local_date >= f.window_from AND c.local_date < f.window_to;
