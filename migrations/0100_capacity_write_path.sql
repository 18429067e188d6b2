-- A practice's snapshot save writes ~20 capacity_daily rows and as many
-- capacity_history rows, and each row's foreign key check is a query of its
-- own: in a regional sync (6,500 practices) 171,782 checks against
-- practices and 139,282 against capacity_history_fetches, once the save's
-- round trips were batched the costliest thing left in it after the slots
-- themselves. The guarantees are kept per practice, as for slots (0040):
--
-- * capacity_daily rows are written only by the transactions that write the
--   practice's slots (a snapshot save, a booking taking a slot out), which
--   lock the practice row (FOR KEY SHARE) first, and a practice that still
--   has capacity rows cannot be deleted or renamed (the trigger below);
-- * capacity_history rows are written only beside their fetch's
--   capacity_history_fetches row, in the same transaction, and pruning
--   deletes the two together (what ON DELETE CASCADE did).
ALTER TABLE capacity_daily DROP CONSTRAINT capacity_daily_ods_code_fkey;
ALTER TABLE capacity_history DROP CONSTRAINT capacity_history_ods_code_run_id_fkey;

CREATE OR REPLACE FUNCTION practices_keep_slots() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'DELETE' OR NEW.ods_code IS DISTINCT FROM OLD.ods_code)
       AND (EXISTS (SELECT 1 FROM slots WHERE ods_code = OLD.ods_code)
            OR EXISTS (SELECT 1 FROM capacity_daily WHERE ods_code = OLD.ods_code)) THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('practice %s still has slots in its snapshot', OLD.ods_code);
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
