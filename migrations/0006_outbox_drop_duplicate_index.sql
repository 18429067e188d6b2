-- outbox_created_idx (0002) indexes outbox (id), which the primary key
-- already does: every outbox insert and delete paid for the same index
-- twice. The relay's ORDER BY id uses the primary key.
DROP INDEX IF EXISTS outbox_created_idx;
