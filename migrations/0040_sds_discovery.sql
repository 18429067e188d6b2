-- SDS discovery (issue 9). A practice is known by its ODS code; its GP
-- Connect service root and ASID are resolved through the Spine Directory
-- Service per interaction before each fetch. The CSV's endpoint and asid
-- become optional overrides for test environments: both or neither.
ALTER TABLE practices ALTER COLUMN asid DROP NOT NULL;
ALTER TABLE practices ALTER COLUMN endpoint DROP NOT NULL;
ALTER TABLE practices ADD CONSTRAINT practices_override_check CHECK ((asid IS NULL) = (endpoint IS NULL));

-- What the last lookup said for a practice and one interaction. One row per
-- interaction: a service root found for one capability is never reused for
-- another. It is a record for operators (and the "changed" log line), not a
-- cache: every run looks again.
CREATE TABLE practice_endpoints (
    ods_code     text NOT NULL REFERENCES practices (ods_code),
    interaction  text NOT NULL,
    status       text NOT NULL CHECK (status IN ('found', 'not_enabled')),
    source       text NOT NULL CHECK (source IN ('sds', 'override')),
    address      text,
    asid         text,
    party_key    text,
    run_id       bigint,
    resolved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ods_code, interaction),
    CHECK ((status = 'found') = (address IS NOT NULL AND asid IS NOT NULL))
);

-- Two outcomes that are not failures: SDS lists no GP Connect endpoint for
-- the interaction ("not GP Connect enabled"), and "skipped": another run
-- fetched the practice after this run started (skipped_for_run says which).
ALTER TABLE sync_run_practices DROP CONSTRAINT sync_run_practices_status_check;
ALTER TABLE sync_run_practices ADD CONSTRAINT sync_run_practices_status_check
    CHECK (status IN ('pending', 'ok', 'failed', 'not_enabled', 'skipped'));
ALTER TABLE sync_run_practices ADD COLUMN skipped_for_run bigint;
ALTER TABLE sync_runs ADD COLUMN practices_not_enabled integer NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN practices_skipped integer NOT NULL DEFAULT 0;
ALTER TABLE practice_sync_state ADD COLUMN not_enabled_since timestamptz;

-- One fetch per practice at a time, across runs and worker processes. A
-- worker takes the practice's lease before it fetches and gives it up in the
-- transaction that saves (or records the failure), so two overlapping runs
-- never fetch or save the same practice at once. No transaction or pooled
-- connection is held while the lease is: it is a row with an expiry, renewed
-- by its process (instance) every few seconds, so a killed worker's leases
-- lapse on their own. token fences a holder whose lease lapsed and was
-- taken over: its save finds no lease row with its token and aborts.
CREATE TABLE practice_fetch_leases (
    ods_code     text PRIMARY KEY REFERENCES practices (ods_code),
    run_id       bigint NOT NULL,
    instance     text NOT NULL,
    token        uuid NOT NULL,
    acquired_at  timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX practice_fetch_leases_instance_idx ON practice_fetch_leases (instance);

-- The per-row foreign key check on slots was ~40% of Postgres's cost of
-- loading a snapshot. The same guarantee is now kept per practice: the only
-- writer (SaveSnapshot) locks the practice row (FOR KEY SHARE) in the
-- transaction that copies its slots, and a practice that still has slots
-- cannot be deleted or renamed (the trigger below, which NO ACTION did).
ALTER TABLE slots DROP CONSTRAINT slots_ods_code_fkey;

CREATE FUNCTION practices_keep_slots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.ods_code IS DISTINCT FROM OLD.ods_code)
       AND EXISTS (SELECT 1 FROM slots WHERE ods_code = OLD.ods_code) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('practice %s still has slots in its snapshot', OLD.ods_code);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER practices_keep_slots BEFORE DELETE OR UPDATE OF ods_code ON practices
    FOR EACH ROW EXECUTE FUNCTION practices_keep_slots();
