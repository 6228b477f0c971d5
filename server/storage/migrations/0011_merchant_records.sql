-- Merchants as the acquirer keeps them (issue 12): registered by the owner's mobile number, a legal name
-- beside the short name payers see (`name`), a status, and who verified its tier and when. The evidence
-- for each tier (ID photo; business licence and shop photo) is a file per row, stored by its SHA-256.
ALTER TABLE merchants ADD COLUMN legal_name TEXT;
ALTER TABLE merchants ADD COLUMN phone TEXT;
ALTER TABLE merchants ADD COLUMN status TEXT NOT NULL DEFAULT 'active';   -- active, suspended, closed
ALTER TABLE merchants ADD COLUMN tier_verified_by TEXT;
ALTER TABLE merchants ADD COLUMN tier_verified_at BIGINT;

-- Registration is by phone: one merchant per number.
CREATE UNIQUE INDEX merchants_by_phone ON merchants (phone) WHERE phone IS NOT NULL;

CREATE TABLE merchant_evidence (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL REFERENCES merchants (id),
    kind          TEXT NOT NULL,             -- id_photo, business_licence, shop_photo
    sha256        TEXT NOT NULL,             -- of the file's bytes; also its name on disk
    content_type  TEXT NOT NULL,             -- image/jpeg, image/png, application/pdf (checked, not as sent)
    size_bytes    BIGINT NOT NULL,
    uploaded_at   BIGINT NOT NULL,
    uploaded_by   TEXT NOT NULL,
    UNIQUE (merchant_id, kind, sha256)
);

CREATE INDEX merchant_evidence_by_merchant ON merchant_evidence (merchant_id, kind);

-- A merchant's contracted fee at each channel, in parts per million of the amount (0.38% = 3800), for
-- statements; NULL until agreed.
ALTER TABLE merchant_channels ADD COLUMN fee_rate_ppm INTEGER;
