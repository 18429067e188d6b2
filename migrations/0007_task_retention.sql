-- Retention: a finished task (acknowledged, failed or cancelled) keeps its
-- patient data (NHS number, subject, body) for GPFED_TASK_RETENTION after it
-- finished; then the leader's retention job blanks them, drops the
-- idempotency key and request hash, stamps redacted_at and appends a
-- 'redacted' audit event. The task's metadata and audit trail stay.
ALTER TABLE tasks ADD COLUMN redacted_at timestamptz;
ALTER TABLE tasks ALTER COLUMN patient_nhs_number DROP NOT NULL;
ALTER TABLE tasks DROP CONSTRAINT tasks_subject_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_subject_check
    CHECK (redacted_at IS NOT NULL OR char_length(subject) BETWEEN 1 AND 200);
ALTER TABLE tasks ADD CONSTRAINT tasks_redacted_check CHECK (
    CASE WHEN redacted_at IS NULL THEN patient_nhs_number IS NOT NULL
         ELSE patient_nhs_number IS NULL AND subject = '' AND body = '' AND state IN ('acknowledged', 'failed', 'cancelled')
    END);

-- What the retention job looks for.
CREATE INDEX tasks_retention_idx ON tasks (finished_at)
    WHERE redacted_at IS NULL AND state IN ('acknowledged', 'failed', 'cancelled');
