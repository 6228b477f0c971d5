-- Stores, stock and static codes as records (issue 12; server/stores.py, server/stock.py,
-- server/static_codes.py).

-- A merchant's shops: devices and static codes belong to one. Anti-switching binds to the store's place
-- (the Wi-Fi and cell areas its devices reported), so a new device at the store is held to it too.
CREATE TABLE stores (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants (id),
    name        TEXT NOT NULL,
    address     TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open',          -- open, closed
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    UNIQUE (merchant_id, name)
);

-- A store per distinct free-text store the devices had; its id made from its first device's.
INSERT INTO stores (id, merchant_id, name, address, status, created_at, created_by)
    SELECT 'st-' || MIN(id), merchant_id, store_name, '', 'open', MIN(created_at), 'migration'
    FROM devices WHERE store_name <> '' GROUP BY merchant_id, store_name;

-- Devices: received into stock by serial number before any merchant is known (merchant_id NULL while in
-- stock), then assigned to a merchant's store (store_id; store_name stays as the store's name for the
-- pages and reports that show it).
-- [sqlite]
CREATE TABLE devices_new (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT REFERENCES merchants (id),
    store_name    TEXT NOT NULL,
    device_key    TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    BIGINT NOT NULL,
    activated_at  BIGINT,
    hardware_id   TEXT,
    last_seen_at  BIGINT,
    battery_pct   INTEGER,
    charging      INTEGER,
    signal_dbm    INTEGER,
    network       TEXT,
    firmware      TEXT,
    uptime_s      BIGINT,
    profile       TEXT,
    device_group  TEXT,
    lifecycle     TEXT NOT NULL DEFAULT 'installed',
    flag          TEXT,
    installed_at  BIGINT,
    boot_id       TEXT,
    boot_seen_at  BIGINT,
    last_ip       TEXT,
    assigned_at   BIGINT,
    store_id      TEXT REFERENCES stores (id),
    model         TEXT,
    stock_batch   TEXT,
    received_at   BIGINT,
    received_by   TEXT,
    CONSTRAINT devices_placed CHECK (lifecycle NOT IN ('assigned', 'installed') OR merchant_id IS NOT NULL)
);
INSERT INTO devices_new (id, merchant_id, store_name, device_key, status, created_at, activated_at, hardware_id,
                         last_seen_at, battery_pct, charging, signal_dbm, network, firmware, uptime_s, profile,
                         device_group, lifecycle, flag, installed_at, boot_id, boot_seen_at, last_ip, assigned_at,
                         store_id)
    SELECT d.id, d.merchant_id, d.store_name, d.device_key, d.status, d.created_at, d.activated_at, d.hardware_id,
           d.last_seen_at, d.battery_pct, d.charging, d.signal_dbm, d.network, d.firmware, d.uptime_s, d.profile,
           d.device_group, d.lifecycle, d.flag, d.installed_at, d.boot_id, d.boot_seen_at, d.last_ip, d.assigned_at,
           (SELECT s.id FROM stores s WHERE s.merchant_id = d.merchant_id AND s.name = d.store_name)
    FROM devices d;
DROP TABLE devices;
ALTER TABLE devices_new RENAME TO devices;
CREATE INDEX devices_by_profile ON devices (profile, device_group);
CREATE INDEX devices_by_merchant ON devices (merchant_id, lifecycle);
-- [postgresql]
ALTER TABLE devices ALTER COLUMN merchant_id DROP NOT NULL;
ALTER TABLE devices ADD COLUMN store_id TEXT REFERENCES stores (id);
ALTER TABLE devices ADD COLUMN model TEXT;
ALTER TABLE devices ADD COLUMN stock_batch TEXT;
ALTER TABLE devices ADD COLUMN received_at BIGINT;
ALTER TABLE devices ADD COLUMN received_by TEXT;
ALTER TABLE devices ADD CONSTRAINT devices_placed
    CHECK (lifecycle NOT IN ('assigned', 'installed') OR merchant_id IS NOT NULL);
UPDATE devices SET store_id = (SELECT s.id FROM stores s WHERE s.merchant_id = devices.merchant_id
                                                       AND s.name = devices.store_name);
-- [both]
CREATE INDEX devices_by_store ON devices (store_id);

-- The store an order was taken at, and the static code a payer scanned for it (NULL: none), fixed when the
-- order is made: a device moved to another store later does not move its orders.
ALTER TABLE orders ADD COLUMN store_id TEXT REFERENCES stores (id);
ALTER TABLE orders ADD COLUMN static_code_id TEXT;
UPDATE orders SET store_id = (SELECT d.store_id FROM devices d WHERE d.id = orders.device_id);

-- Static codes: printed in batches before any shop is known, bound to a merchant's store and the device that
-- says its payments (and holds its orders), unbound, replaced when lost, deregistered alone.
CREATE TABLE static_code_batches (
    id          TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE static_codes (
    id           TEXT PRIMARY KEY,                      -- printed under the QR and in its URL: /c/s/<id>
    batch_id     TEXT REFERENCES static_code_batches (id),
    status       TEXT NOT NULL,                         -- empty, bound, deregistered
    merchant_id  TEXT REFERENCES merchants (id),
    store_id     TEXT REFERENCES stores (id),
    device_id    TEXT REFERENCES devices (id),
    replaces_id  TEXT REFERENCES static_codes (id),     -- the lost code this one took over from
    created_at   BIGINT NOT NULL,
    bound_at     BIGINT,
    bound_by     TEXT,
    ended_at     BIGINT,                                -- deregistered: when, by whom, why
    ended_by     TEXT,
    end_reason   TEXT,
    CONSTRAINT static_codes_bound CHECK (status <> 'bound' OR (merchant_id IS NOT NULL AND store_id IS NOT NULL
                                                               AND device_id IS NOT NULL))
);

CREATE INDEX static_codes_by_store ON static_codes (store_id, status);
CREATE INDEX static_codes_by_batch ON static_codes (batch_id);

-- Stickers printed before this: their URL carries their device's id, which becomes their code's id, so they
-- keep taking payments for the same store.
INSERT INTO static_codes (id, status, merchant_id, store_id, device_id, created_at, bound_at, bound_by)
    SELECT id, 'bound', merchant_id, store_id, id, created_at, created_at, 'migration' FROM devices
    WHERE store_id IS NOT NULL AND lifecycle IN ('assigned', 'installed');
