-- Federation registry, capacity sync runs, slot snapshots and capacity aggregates.

CREATE TABLE practices (
    ods_code                     text PRIMARY KEY CHECK (ods_code ~ '^[A-Z0-9]{3,10}$'),
    name                         text NOT NULL CHECK (name <> ''),
    asid                         text NOT NULL CHECK (asid ~ '^[0-9]{1,20}$'),
    endpoint                     text NOT NULL,
    active                       boolean NOT NULL DEFAULT true,
    webhook_url                  text,
    webhook_secret               text,
    low_capacity_threshold_minutes integer CHECK (low_capacity_threshold_minutes >= 0),
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    deactivated_at               timestamptz
);

-- One row per sync run; the leader-elected scheduler or `gpfed sync --once` creates it.
CREATE TABLE sync_runs (
    id                bigserial PRIMARY KEY,
    trigger           text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    from_date         date NOT NULL,
    to_date           date NOT NULL, -- exclusive
    status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed')),
    practices_total   integer NOT NULL DEFAULT 0,
    practices_ok      integer NOT NULL DEFAULT 0,
    practices_failed  integer NOT NULL DEFAULT 0,
    slots_total       integer NOT NULL DEFAULT 0,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    CHECK (to_date > from_date)
);
CREATE INDEX sync_runs_started_idx ON sync_runs (started_at DESC);
CREATE UNIQUE INDEX sync_runs_one_running_schedule ON sync_runs (trigger) WHERE status = 'running' AND trigger = 'schedule';

-- Per-practice outcome of a run. A run is complete when no row is pending.
CREATE TABLE sync_run_practices (
    run_id        bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    ods_code      text NOT NULL REFERENCES practices (ods_code),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    http_status   integer,
    spine_code    text,
    diagnostics   text,
    slots         integer,
    calls         integer,
    started_at    timestamptz,
    finished_at   timestamptz,
    duration_ms   integer,
    PRIMARY KEY (run_id, ods_code)
);
CREATE INDEX sync_run_practices_pending_idx ON sync_run_practices (run_id) WHERE status = 'pending';

-- Current sync state per practice: what the dashboard and staleness checks read.
CREATE TABLE practice_sync_state (
    ods_code          text PRIMARY KEY REFERENCES practices (ods_code),
    last_run_id       bigint,
    last_attempt_at   timestamptz,
    last_success_at   timestamptz,
    stale             boolean NOT NULL DEFAULT false,
    stale_since       timestamptz,
    last_http_status  integer,
    last_spine_code   text,
    last_error        text,
    window_from       date,
    window_to         date,
    slot_count        integer NOT NULL DEFAULT 0
);

-- The current snapshot of free slots, replaced atomically per successful fetch.
CREATE TABLE slots (
    ods_code          text NOT NULL REFERENCES practices (ods_code),
    slot_id           text NOT NULL,
    start_at          timestamptz NOT NULL,
    end_at            timestamptz NOT NULL,
    local_date        date NOT NULL,
    duration_minutes  integer NOT NULL,
    location_id       text NOT NULL DEFAULT '',
    site_name         text NOT NULL DEFAULT '',
    schedule_id       text NOT NULL DEFAULT '',
    session_name      text NOT NULL DEFAULT '',
    practitioner_id   text NOT NULL DEFAULT '',
    role_code         text NOT NULL DEFAULT '',
    role_display      text NOT NULL DEFAULT '',
    delivery_channel  text NOT NULL DEFAULT '',
    slot_type         text NOT NULL DEFAULT '',
    -- When and in which run this slot was first offered. Every slot in the snapshot was seen by
    -- the practice's last successful fetch (practice_sync_state.last_success_at / last_run_id).
    first_seen_at     timestamptz NOT NULL,
    first_run_id      bigint,
    PRIMARY KEY (ods_code, slot_id)
);
CREATE INDEX slots_date_idx ON slots (local_date, ods_code);

-- History: slots that appeared or disappeared between two successful syncs.
CREATE TABLE slot_changes (
    id                bigserial PRIMARY KEY,
    run_id            bigint,
    ods_code          text NOT NULL REFERENCES practices (ods_code),
    slot_id           text NOT NULL,
    change            text NOT NULL CHECK (change IN ('added', 'removed', 'expired')),
    start_at          timestamptz NOT NULL,
    local_date        date NOT NULL,
    duration_minutes  integer NOT NULL,
    role_code         text NOT NULL DEFAULT '',
    delivery_channel  text NOT NULL DEFAULT '',
    changed_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slot_changes_practice_idx ON slot_changes (ods_code, changed_at DESC);

-- Daily capacity aggregates, rebuilt for a practice in the same transaction as its snapshot.
CREATE TABLE capacity_daily (
    ods_code             text NOT NULL REFERENCES practices (ods_code),
    local_date           date NOT NULL,
    free_slots           integer NOT NULL,
    free_minutes         integer NOT NULL,
    by_delivery_channel  jsonb NOT NULL DEFAULT '{}',
    by_role              jsonb NOT NULL DEFAULT '{}',
    by_site              jsonb NOT NULL DEFAULT '{}',
    minutes_by_delivery_channel jsonb NOT NULL DEFAULT '{}',
    minutes_by_role      jsonb NOT NULL DEFAULT '{}',
    computed_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ods_code, local_date)
);

-- API keys: per-practice bearer keys and federation-admin keys, stored as SHA-256 hashes.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    role        text NOT NULL CHECK (role IN ('practice', 'admin')),
    ods_code    text REFERENCES practices (ods_code),
    key_hash    bytea NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'practice') = (ods_code IS NOT NULL))
);

-- Leases for leader-only jobs (scheduler, reconciler): one holder per name at a time.
CREATE TABLE leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    acquired_at timestamptz NOT NULL DEFAULT now()
);
