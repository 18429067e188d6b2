-- Webhook secret rotation: for a while after a practice's signing secret is
-- replaced (`gpfed practices webhook --keep-previous`), deliveries carry a
-- v1 signature with the previous secret as well as the new one, so the
-- practice's receiver can switch secrets at its own pace instead of failing
-- every delivery with 401 until it does.
ALTER TABLE practices
    ADD COLUMN webhook_secret_previous text,
    ADD COLUMN webhook_secret_previous_until timestamptz,
    ADD CONSTRAINT practices_webhook_previous_check
        CHECK ((webhook_secret_previous IS NULL) = (webhook_secret_previous_until IS NULL));
