-- Unique keys that most rows leave empty (issue 11).
--
-- tasks.idempotency_key (a client's Idempotency-Key, optional) and
-- notifications.coalesce_key (set only on notifications that coalesce, such
-- as endpoint.failing; never on a task's receipts) were UNIQUE constraints,
-- whose indexes hold an entry for every row, NULL keys included, although
-- NULLs never conflict. Every task sent without a key and every sender
-- receipt paid for an index entry that no lookup can use. Partial unique
-- indexes keep exactly the same rule for the rows that have a key and hold
-- nothing for the others; ON CONFLICT names the predicate to use them.
ALTER TABLE tasks DROP CONSTRAINT tasks_sender_ods_idempotency_key_key;
CREATE UNIQUE INDEX tasks_idempotency_key_idx ON tasks (sender_ods, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

ALTER TABLE notifications DROP CONSTRAINT notifications_coalesce_key_key;
CREATE UNIQUE INDEX notifications_coalesce_key_idx ON notifications (coalesce_key)
    WHERE coalesce_key IS NOT NULL;
