-- Every change of a practice's webhook channel (where its patient data is
-- sent, and the secret that proves gpfed sent it): who, when, the old and
-- new origin (scheme://host[:port]; paths may carry tokens and are not
-- kept), whether the secret was rotated and how long the previous one stays
-- valid. Shown on the dashboard's practice page and by the CSV import.
CREATE TABLE webhook_channel_changes (
    id                   bigserial PRIMARY KEY,
    ods_code             text NOT NULL REFERENCES practices (ods_code),
    changed_at           timestamptz NOT NULL DEFAULT now(),
    actor                text NOT NULL CHECK (actor <> '' AND length(actor) <= 200),
    old_origin           text NOT NULL DEFAULT '',
    new_origin           text NOT NULL DEFAULT '',
    path_changed         boolean NOT NULL DEFAULT false,
    secret_rotated       boolean NOT NULL,
    previous_valid_until timestamptz
);
CREATE INDEX webhook_channel_changes_practice_idx ON webhook_channel_changes (ods_code, changed_at DESC);

-- Per-practice API rate limit (requests per minute per key); NULL follows
-- GPFED_RATE_LIMIT_PER_MINUTE, 0 means unlimited.
ALTER TABLE practices ADD COLUMN rate_limit_per_minute integer CHECK (rate_limit_per_minute >= 0);
