-- Resolver claims that die with their owner (issue 15; server/resolver.py, docs/operations.md "What the
-- server does on its own"). An order or refund being worked on names the process working on it
-- (claimed_by: a random id per start) and how long the claim holds without renewal (claimed_until, Unix
-- ms; renewed by the owner's heartbeat while the work goes on). next_check_at stays the time it was due,
-- so "due and unclaimed for how long" is the resolver's lag.
ALTER TABLE orders ADD COLUMN claimed_by TEXT;
ALTER TABLE orders ADD COLUMN claimed_until BIGINT;
-- Untrustworthy answers in a row (bad signature, unreadable, HTTP 4xx): the next check backs off with them.
ALTER TABLE orders ADD COLUMN faults INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refunds ADD COLUMN claimed_by TEXT;
ALTER TABLE refunds ADD COLUMN claimed_until BIGINT;
ALTER TABLE refunds ADD COLUMN faults INTEGER NOT NULL DEFAULT 0;
-- The last answer's fault (untrusted, refused), NULL after a trustworthy one: the "refund cannot succeed" alert.
ALTER TABLE refunds ADD COLUMN fault TEXT;

-- Claiming goes channel by channel, oldest due first.
CREATE INDEX orders_due_by_channel ON orders (channel, next_check_at) WHERE status = 'PAYING';
CREATE INDEX orders_claimed ON orders (claimed_by) WHERE claimed_by IS NOT NULL;
CREATE INDEX refunds_claimed ON refunds (claimed_by) WHERE claimed_by IS NOT NULL;
