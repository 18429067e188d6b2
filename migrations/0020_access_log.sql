-- Access audit: one row per authenticated API request (every read or change
-- of patient data among them) and per authentication failure: who (the
-- practice and the API key, or the admin key), what (action and resource
-- ids), when, from which address, and the HTTP status. Never the data
-- itself: no NHS numbers, subjects, bodies or query values. Pruned by the
-- leader's retention job after GPFED_AUDIT_RETENTION.
CREATE TABLE access_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor_role     text NOT NULL CHECK (actor_role IN ('practice', 'admin', 'anonymous')),
    ods_code       text CHECK (ods_code ~ '^[A-Z0-9]{3,10}$'),
    api_key_id     uuid,
    key_prefix     text NOT NULL DEFAULT '' CHECK (length(key_prefix) <= 16),
    action         text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    method         text NOT NULL DEFAULT '' CHECK (length(method) <= 10),
    route          text NOT NULL DEFAULT '' CHECK (length(route) <= 200),
    resource_ids   text[] NOT NULL DEFAULT '{}',
    status         integer NOT NULL CHECK (status BETWEEN 100 AND 599),
    reason         text NOT NULL DEFAULT '' CHECK (length(reason) <= 100),
    remote_addr    text NOT NULL DEFAULT '' CHECK (length(remote_addr) <= 64),
    forwarded_for  text NOT NULL DEFAULT '' CHECK (length(forwarded_for) <= 200)
);
CREATE INDEX access_log_at_idx ON access_log (at);
CREATE INDEX access_log_practice_idx ON access_log (ods_code, at) WHERE ods_code IS NOT NULL;
CREATE INDEX access_log_key_idx ON access_log (api_key_id, at) WHERE api_key_id IS NOT NULL;
CREATE INDEX access_log_resource_idx ON access_log USING gin (resource_ids);
