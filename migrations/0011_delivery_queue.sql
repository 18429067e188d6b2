-- Delivery engine v2: Postgres schedules every delivery; asynq only carries
-- "claim due work" wake-ups to workers.
--
-- delivery_queue holds one row per open delivery (an accepted task or a
-- pending notification) while it is open; the statement that finishes the
-- item deletes its row. A row is claimable when due_at has passed. A claim
-- stamps claim_token and moves due_at to the end of the claim's lease, so
-- "due" also covers a lease that expired (the worker died mid-POST): no
-- separate expiry sweep is needed. A retry clears claim_token and sets
-- due_at to the next attempt time. endpoint is the recipient practice: the
-- unit of the per-endpoint in-flight cap and of the circuit breaker.
CREATE TABLE delivery_queue (
    ref_id       uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('task', 'notification')),
    endpoint     text NOT NULL,
    priority     smallint NOT NULL DEFAULT 1 CHECK (priority IN (0, 1)), -- 0 urgent, 1 normal
    due_at       timestamptz NOT NULL DEFAULT now(),
    claim_token  uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- Claims walk each endpoint's rows in (priority, due_at) order; the
-- distinct-endpoint walk uses its prefix.
CREATE INDEX delivery_queue_endpoint_idx ON delivery_queue (endpoint, priority, due_at);
-- In-flight rows per endpoint (the cap) and the earliest lease end.
CREATE INDEX delivery_queue_claimed_idx ON delivery_queue (endpoint, due_at) WHERE claim_token IS NOT NULL;
-- A claim reads back what it took by its token (and heartbeats extend it):
-- without this, each read scans the whole queue, and the queue is longest
-- when a practice is down.
CREATE INDEX delivery_queue_token_idx ON delivery_queue (claim_token) WHERE claim_token IS NOT NULL;
-- A churn table (a row per delivery, deleted when it ends): the workers
-- vacuum it when dead rows gather (store.VacuumDeliveryQueue); autovacuum
-- follows it by row count rather than by a fraction of a small table; and
-- no vacuum truncates it (truncation takes an exclusive lock, stalling
-- every claim while it waits).
ALTER TABLE delivery_queue SET (vacuum_truncate = false, autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 1000);

INSERT INTO delivery_queue (ref_id, kind, endpoint, priority, created_at)
SELECT id, 'task', recipient_ods, CASE priority WHEN 'urgent' THEN 0 ELSE 1 END, created_at
FROM tasks WHERE state = 'accepted';

-- Per-endpoint circuit breaker. A practice with no row is closed.
CREATE TABLE endpoint_health (
    ods_code              text PRIMARY KEY REFERENCES practices (ods_code),
    state                 text NOT NULL DEFAULT 'closed' CHECK (state IN ('closed', 'open')),
    consecutive_failures  integer NOT NULL DEFAULT 0,
    opened_at             timestamptz,
    next_probe_at         timestamptz,
    probe_backoff_ms      bigint,
    last_status           integer,
    last_error            text,
    last_failure_at       timestamptz,
    last_success_at       timestamptz,
    notified_at           timestamptz, -- last endpoint.failing notification (coalescing)
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'open') = (next_probe_at IS NOT NULL))
);

-- Per-practice override of the in-flight cap (GPFED_ENDPOINT_MAX_IN_FLIGHT).
ALTER TABLE practices ADD COLUMN delivery_max_in_flight integer
    CHECK (delivery_max_in_flight BETWEEN 1 AND 1000);

-- Redelivery: how many times an operator re-sent a failed task. The sender's
-- outcome notification is keyed by it, so each redelivery reports again.
ALTER TABLE tasks ADD COLUMN redeliveries integer NOT NULL DEFAULT 0;

-- Notifications for federation admins (audience 'admin', no practice) next
-- to those for practices. Kinds are validated in Go; the database keeps the
-- shape only, so adding a kind needs no migration.
ALTER TABLE notifications ADD COLUMN audience text NOT NULL DEFAULT 'practice'
    CHECK (audience IN ('practice', 'admin'));
ALTER TABLE notifications ALTER COLUMN recipient_ods DROP NOT NULL;
ALTER TABLE notifications ADD CONSTRAINT notifications_audience_recipient_check
    CHECK ((audience = 'admin') = (recipient_ods IS NULL));
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind ~ '^[a-z]+\.[a-z_]+$');
CREATE INDEX notifications_admin_feed_idx ON notifications (created_at DESC, id DESC) WHERE audience = 'admin';

INSERT INTO delivery_queue (ref_id, kind, endpoint, created_at)
SELECT id, 'notification', recipient_ods, created_at
FROM notifications WHERE state = 'pending' AND recipient_ods IS NOT NULL;

-- The outbox and its relay are replaced by delivery_queue.
DROP TABLE outbox;
DROP FUNCTION outbox_notify();
