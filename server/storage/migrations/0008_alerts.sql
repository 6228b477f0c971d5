-- Monitoring alerts (server/alerts.py): one row per alert, from raised to cleared. At most one row per
-- rule and subject is open (cleared_at NULL), so processes evaluating at once raise it only once.
CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    rule        TEXT NOT NULL,          -- success_rate, devices_offline, backlog
    subject     TEXT NOT NULL,          -- the channel for success_rate, else ''
    message     TEXT NOT NULL,          -- what the operator reads, with the latest figures while open
    raised_at   BIGINT NOT NULL,
    cleared_at  BIGINT,
    clear_note  TEXT                    -- the figures at clear time
);

CREATE UNIQUE INDEX alerts_open ON alerts (rule, subject) WHERE cleared_at IS NULL;
CREATE INDEX alerts_by_time ON alerts (raised_at);

-- The monitoring page and the alert rules count recent orders by creation time.
CREATE INDEX orders_by_created ON orders (created_at);
