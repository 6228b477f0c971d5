-- The whole device API: activation, merchant tiers and daily caps, C2B codes, close, refunds, heartbeats.
ALTER TABLE merchants ADD COLUMN tier INTEGER NOT NULL DEFAULT 1;

ALTER TABLE devices ADD COLUMN activated_at BIGINT;
ALTER TABLE devices ADD COLUMN hardware_id TEXT;
ALTER TABLE devices ADD COLUMN last_seen_at BIGINT;
ALTER TABLE devices ADD COLUMN battery_pct INTEGER;
ALTER TABLE devices ADD COLUMN charging INTEGER;
ALTER TABLE devices ADD COLUMN signal_dbm INTEGER;
ALTER TABLE devices ADD COLUMN network TEXT;
ALTER TABLE devices ADD COLUMN firmware TEXT;
ALTER TABLE devices ADD COLUMN uptime_s BIGINT;

ALTER TABLE orders ADD COLUMN kind TEXT NOT NULL DEFAULT 'b2c';
ALTER TABLE orders ADD COLUMN merchant_id TEXT;
ALTER TABLE orders ADD COLUMN day INTEGER;
ALTER TABLE orders ADD COLUMN refunded_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN refund_reserved_fen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN close_requested_at BIGINT;
ALTER TABLE orders ADD COLUMN qr_token TEXT;

CREATE UNIQUE INDEX orders_by_qr_token ON orders (qr_token);
CREATE INDEX orders_by_device ON orders (device_id, created_at);

-- One-time activation codes, stored only as SHA-256.
CREATE TABLE activation_codes (
    code_hash   TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

-- Fen taken (or still being taken) per merchant per China-time day: the daily cap is a conditional update here.
CREATE TABLE merchant_days (
    merchant_id TEXT NOT NULL,
    day         INTEGER NOT NULL,
    used_fen    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, day)
);

CREATE TABLE refunds (
    id                TEXT PRIMARY KEY,
    order_id          TEXT NOT NULL REFERENCES orders (id),
    device_id         TEXT NOT NULL,
    refund_no         TEXT NOT NULL,
    refund_trade_no   TEXT NOT NULL UNIQUE,
    amount_fen        BIGINT NOT NULL CHECK (amount_fen > 0),
    status            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    reason            TEXT,
    fail_reason       TEXT,
    message           TEXT,
    channel_refund_no TEXT,
    finished_at       BIGINT,
    next_check_at     BIGINT,
    attempts          INTEGER NOT NULL DEFAULT 0,
    waiting           INTEGER NOT NULL DEFAULT 0,
    UNIQUE (device_id, refund_no)
);

CREATE INDEX refunds_due ON refunds (next_check_at) WHERE status = 'PENDING';
CREATE INDEX refunds_by_order ON refunds (order_id);

CREATE TABLE device_commands (
    id          TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    kind        TEXT NOT NULL,
    args        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    acked_at    BIGINT
);

CREATE INDEX device_commands_pending ON device_commands (device_id, created_at) WHERE acked_at IS NULL;
