-- Receipts for calls policy allowed (approved calls always have one): asked for in the
-- proposal (`"receipt": true`), or always for an agent an admin set so.
ALTER TABLE agents ADD COLUMN receipts_always BIGINT NOT NULL DEFAULT 0 CHECK (receipts_always IN (0, 1));
ALTER TABLE calls ADD COLUMN wants_receipt BIGINT NOT NULL DEFAULT 0 CHECK (wants_receipt IN (0, 1));
