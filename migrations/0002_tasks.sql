-- Tasks and notifications between practices, their audit trail, and the transactional outbox.

CREATE TABLE tasks (
    id                  uuid PRIMARY KEY,
    sender_ods          text NOT NULL REFERENCES practices (ods_code),
    recipient_ods       text NOT NULL REFERENCES practices (ods_code),
    patient_nhs_number  text NOT NULL CHECK (patient_nhs_number ~ '^[0-9]{10}$'),
    type                text NOT NULL CHECK (type IN ('information', 'action-needed')),
    priority            text NOT NULL CHECK (priority IN ('routine', 'urgent')),
    subject             text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
    body                text NOT NULL CHECK (char_length(body) <= 10000),
    due_date            date,
    state               text NOT NULL DEFAULT 'accepted'
                        CHECK (state IN ('accepted', 'delivered', 'acknowledged', 'failed', 'cancelled')),
    channel             text CHECK (channel IN ('webhook', 'inbox')),
    attempts            integer NOT NULL DEFAULT 0,
    last_error          text,
    idempotency_key     text,
    request_hash        bytea,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    delivered_at        timestamptz,
    acknowledged_at     timestamptz,
    finished_at         timestamptz,
    expires_at          timestamptz NOT NULL,
    overdue_notified_at timestamptz,
    CHECK (sender_ods <> recipient_ods),
    UNIQUE (sender_ods, idempotency_key)
);
-- Keyset pages run newest first on (created_at, id), both descending.
CREATE INDEX tasks_inbox_idx ON tasks (recipient_ods, created_at DESC, id DESC);
CREATE INDEX tasks_sent_idx ON tasks (sender_ods, created_at DESC, id DESC);
CREATE INDEX tasks_open_idx ON tasks (state, created_at) WHERE state = 'accepted';

-- Append-only audit trail: who did what, when, for every task state change.
CREATE TABLE task_events (
    id          bigserial PRIMARY KEY,
    task_id     uuid NOT NULL REFERENCES tasks (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL, -- ODS code of the practice, or 'system'
    action      text NOT NULL,
    from_state  text,
    to_state    text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX task_events_task_idx ON task_events (task_id, id);

CREATE FUNCTION task_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'task_events is append-only';
END;
$$;
CREATE TRIGGER task_events_no_update BEFORE UPDATE OR DELETE ON task_events
    FOR EACH ROW EXECUTE FUNCTION task_events_append_only();

-- Notifications to a practice. They carry ids and codes, never patient data.
CREATE TABLE notifications (
    id               uuid PRIMARY KEY,
    recipient_ods    text NOT NULL REFERENCES practices (ods_code),
    kind             text NOT NULL CHECK (kind IN ('task.delivered', 'task.failed', 'task.acknowledged',
                        'task.overdue', 'sync.failed', 'sync.stale', 'capacity.low')),
    task_id          uuid REFERENCES tasks (id),
    subject_ods      text,
    data             jsonb NOT NULL DEFAULT '{}',
    coalesce_key     text UNIQUE,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    channel          text CHECK (channel IN ('webhook', 'feed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    acknowledged_at  timestamptz,
    finished_at      timestamptz,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX notifications_feed_idx ON notifications (recipient_ods, created_at DESC, id DESC);
CREATE INDEX notifications_open_idx ON notifications (state, created_at) WHERE state = 'pending';

-- Transactional outbox: written with the task/notification, moved into asynq by the relay.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('task', 'notification')),
    ref_id       uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_created_idx ON outbox (id);
