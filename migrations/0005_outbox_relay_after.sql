-- Direct enqueue: the process that commits a task (the API) or a sender's
-- delivered/failed notification (the worker) puts it into asynq itself right
-- after the commit. Its outbox row then only guards the gap between commit
-- and enqueue (a crash, or Redis down): it is written with relay_after a few
-- seconds ahead, the relay leaves it alone until then, and the delivery that
-- consumes the item deletes it. Other rows are relayed at once, as before.
ALTER TABLE outbox ADD COLUMN relay_after timestamptz NOT NULL DEFAULT now();

-- Only rows due now wake the relays: a NOTIFY per hot-path commit would
-- wake every relay for nothing (and NOTIFY serialises commits).
DROP TRIGGER outbox_notify ON outbox;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.relay_after <= NEW.created_at) EXECUTE FUNCTION outbox_notify();
