-- Payments announced in the shop (issue 14; server/announce.py, docs/device-api.md "events"). Every C2B
-- payment that succeeds is written here for the device that says it (the order's device: the one bound to
-- the static code, or the one that showed the one-time code), numbered per device without gaps and in the
-- order they committed, so a device that says "I have heard up to 41" misses nothing and hears nothing twice.
CREATE TABLE announcement_cursors (
    device_id TEXT PRIMARY KEY REFERENCES devices (id),
    last_seq BIGINT NOT NULL,          -- the number of the device's latest announcement (0: none yet)
    acked_seq BIGINT NOT NULL,         -- the highest the device said it has handled (its `after`)
    acked_at BIGINT                    -- when it last said so (Unix ms)
);

CREATE TABLE announcements (
    device_id TEXT NOT NULL REFERENCES devices (id),
    seq BIGINT NOT NULL,
    order_id TEXT NOT NULL UNIQUE REFERENCES orders (id),     -- an order is announced once
    order_no TEXT NOT NULL,
    channel TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    paid_at BIGINT NOT NULL,           -- when the server learnt of the payment (Unix ms)
    static_code INTEGER NOT NULL,      -- 1: paid on the shop's static code, 0: a one-time code
    PRIMARY KEY (device_id, seq)
);

-- Payments finished without an announcement (a process stopped between the two) are looked for by time.
CREATE INDEX orders_c2b_paid ON orders (finished_at) WHERE kind = 'c2b' AND status = 'SUCCESS';
