-- Revoking an API key (or a practice leaving or rejoining) wakes every
-- `gpfed serve`, which LISTENs on gpfed_api_keys and empties its key cache,
-- so a revoked key stops working at once instead of within the cache's TTL.
-- NOTIFY is sent at commit; API key lookups never write, so this fires only
-- on real changes.
CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gpfed_api_keys', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER api_keys_changed AFTER UPDATE OF revoked_at OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();
CREATE TRIGGER practices_active_changed AFTER UPDATE OF active ON practices
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys_notify();
