-- Delivery: wake outbox relays at commit time, and find outbox rows by referent.

-- Every relay LISTENs on gpfed_outbox, so work accepted by any process is
-- relayed within milliseconds instead of at the next poll. NOTIFY is sent at
-- commit, and identical payloads within one transaction are folded.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gpfed_outbox', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Reconciliation asks "has this task or notification an outbox row?".
CREATE INDEX outbox_ref_idx ON outbox (ref_id);

-- Overdue scan: open tasks with a due date not yet notified.
CREATE INDEX tasks_overdue_idx ON tasks (due_date)
    WHERE due_date IS NOT NULL AND overdue_notified_at IS NULL AND state IN ('accepted', 'delivered');
