-- One row per payer, channel and day of static-code payments. Engaging a static-code order first
-- updates this row, so two tabs of one payer are checked against the static-code limit one after the
-- other: on PostgreSQL the second waits for the first's row lock and then sees its order counted.
CREATE TABLE static_payer_locks (
    channel   TEXT NOT NULL,
    payer_id  TEXT NOT NULL,
    day       INTEGER NOT NULL,
    engaged   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, payer_id, day)
);
