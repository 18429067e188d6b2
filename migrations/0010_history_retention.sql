-- History retention: the slot change history and finished notifications
-- are pruned GPFED_HISTORY_RETENTION (default 90 days) after they happened,
-- so a federation that syncs every night for years keeps a bounded
-- database. These indexes let the leader's hourly prune find them.
CREATE INDEX slot_changes_changed_idx ON slot_changes (changed_at);
CREATE INDEX notifications_finished_idx ON notifications (finished_at) WHERE state <> 'pending';
