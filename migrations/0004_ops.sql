-- Dashboard login sessions for federation admins. The cookie carries a random
-- session id; only its SHA-256 is stored, so a database dump cannot be
-- replayed as a login. Revoking the admin key ends its sessions at once.
CREATE TABLE dashboard_sessions (
    id_hash     bytea PRIMARY KEY,
    api_key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);
