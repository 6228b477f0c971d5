-- Portable SQL: runs on SQLite and PostgreSQL. Times are integer Unix milliseconds.
CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE devices (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    store_name  TEXT NOT NULL,
    device_key  TEXT NOT NULL,          -- 64 hex characters: the HMAC key of the device API
    status      TEXT NOT NULL DEFAULT 'active',
    created_at  BIGINT NOT NULL
);

CREATE TABLE orders (
    id               TEXT PRIMARY KEY,
    device_id        TEXT NOT NULL REFERENCES devices (id),
    order_no         TEXT NOT NULL,
    trade_no         TEXT NOT NULL UNIQUE,
    amount_fen       BIGINT NOT NULL CHECK (amount_fen > 0),
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    message          TEXT,
    subject          TEXT,
    auth_code_hash   TEXT NOT NULL,
    auth_code_masked TEXT NOT NULL,
    channel_trade_no TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    next_check_at    BIGINT,
    deadline_at      BIGINT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- The idempotency key: a concurrent duplicate pay loses here and never reaches the channel.
    UNIQUE (device_id, order_no)
);

CREATE INDEX orders_due ON orders (next_check_at) WHERE status = 'PAYING';

CREATE TABLE order_events (
    id        TEXT PRIMARY KEY,
    order_id  TEXT NOT NULL REFERENCES orders (id),
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT,
    raw       TEXT                      -- JSON of the channel's answer, secrets stripped
);

CREATE INDEX order_events_by_order ON order_events (order_id, at);

CREATE TABLE nonces (
    device_id TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    seen_at   BIGINT NOT NULL,
    PRIMARY KEY (device_id, nonce)
);
