-- Delivery without index churn (issue 11).
--
-- Delivering a task or a notification changes its row once (accepted ->
-- delivered, pending -> delivered). PostgreSQL can make that a heap-only
-- (HOT) update, which writes no index entry at all, only when no index
-- mentions a changed column, predicates included, and the row's page has
-- room. Before this migration every delivery wrote a new entry into each of
-- the tasks' five or six indexes and the notifications' four, because
-- partial indexes named `state` or `finished_at`; measured with
-- pg_stat_statements, recording outcomes was the largest single cost per task.
--
-- What waits to be delivered is already indexed by delivery_queue (one row
-- per open task or notification, written and removed in the same statements
-- as their state), so the "open" indexes go; the indexes that select
-- unfinished or finished rows say so with finished_at, which delivery does
-- not change for tasks; notifications' retention finds its candidates by
-- creation time. Append-only time columns get block-range indexes.

-- finished_at is set exactly when a task reaches a final state; the overdue
-- and retention indexes below rely on it. Rows written by older versions
-- that did not say so are brought in line first (a final task without
-- finished_at takes its acknowledgement or last update time).
UPDATE tasks SET finished_at = COALESCE(acknowledged_at, updated_at)
    WHERE finished_at IS NULL AND state IN ('acknowledged', 'failed', 'cancelled');
UPDATE tasks SET finished_at = NULL
    WHERE finished_at IS NOT NULL AND state NOT IN ('acknowledged', 'failed', 'cancelled');
ALTER TABLE tasks ADD CONSTRAINT tasks_finished_when_final
    CHECK ((finished_at IS NOT NULL) = (state IN ('acknowledged', 'failed', 'cancelled')));

DROP INDEX tasks_open_idx;
DROP INDEX tasks_overdue_idx;
CREATE INDEX tasks_overdue_idx ON tasks (due_date)
    WHERE due_date IS NOT NULL AND overdue_notified_at IS NULL AND finished_at IS NULL;
DROP INDEX tasks_retention_idx;
CREATE INDEX tasks_retention_idx ON tasks (finished_at)
    WHERE redacted_at IS NULL AND finished_at IS NOT NULL;

DROP INDEX notifications_open_idx;
DROP INDEX notifications_finished_idx;
-- Rows arrive in creation order, so a block-range index serves retention's
-- "created before the cutoff" at next to no cost per insert.
CREATE INDEX notifications_created_idx ON notifications USING brin (created_at);

-- The same for the access log (a row per API request): retention walks it
-- by id, which follows time; time-range audit queries use the block ranges.
DROP INDEX access_log_at_idx;
CREATE INDEX access_log_at_idx ON access_log USING brin (at);

-- Room on each page for the delivered version of each of its rows: a row
-- is updated within milliseconds of its insert, before the page's older
-- versions can be pruned. Measured in a closed-loop run: at fillfactor 80,
-- 62% of the tasks' and 58% of the notifications' updates were heap-only;
-- at 50, all of them. The price is heap space: up to twice the pages for
-- these two tables.
ALTER TABLE tasks SET (fillfactor = 50);
ALTER TABLE notifications SET (fillfactor = 50);

-- An event is only ever read with its task's: one index instead of two.
ALTER TABLE task_events DROP CONSTRAINT task_events_pkey;
DROP INDEX task_events_task_idx;
ALTER TABLE task_events ADD PRIMARY KEY (task_id, id);

-- Tasks before notifications: a notification (a receipt, a failure report,
-- an alert) waits behind routine tasks to the same practice, as routine
-- tasks wait behind urgent ones, so that under load the clinical work keeps
-- its latency and the receipts absorb the queueing.
ALTER TABLE delivery_queue DROP CONSTRAINT delivery_queue_priority_check;
ALTER TABLE delivery_queue ADD CONSTRAINT delivery_queue_priority_check CHECK (priority IN (0, 1, 2));
ALTER TABLE delivery_queue ALTER COLUMN priority SET DEFAULT 2;
UPDATE delivery_queue SET priority = 2 WHERE kind = 'notification';
