-- Dashboard sessions end after GPFED_SESSION_IDLE_TIMEOUT without use, as
-- well as at their absolute expiry.
ALTER TABLE dashboard_sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();

-- Server-side keys shared by every replica: the HMAC key that makes list
-- cursors unforgeable ('cursor'). Created on first use.
CREATE TABLE signing_keys (
    name        text PRIMARY KEY,
    key         bytea NOT NULL CHECK (length(key) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
