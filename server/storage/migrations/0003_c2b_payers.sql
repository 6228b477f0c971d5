-- C2B landing page: who paid a code, and which orders came through a shop's static code (their payer limit).
ALTER TABLE orders ADD COLUMN payer_id TEXT;
ALTER TABLE orders ADD COLUMN static_code INTEGER NOT NULL DEFAULT 0;

CREATE INDEX orders_static_payer ON orders (channel, payer_id, day) WHERE static_code = 1;
