-- Device lifecycle and anti-switching (docs/console.md "Devices", docs/device-api.md section 3).
-- lifecycle: in_stock -> assigned -> installed -> (swapped out: in_stock or decommissioned) -> decommissioned.
-- Devices that existed before are live at their store: installed.
ALTER TABLE devices ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'installed';
ALTER TABLE devices ADD COLUMN flag TEXT;               -- 'moved' or 'cloned' while flagged: every op refused
ALTER TABLE devices ADD COLUMN installed_at BIGINT;
ALTER TABLE devices ADD COLUMN boot_id TEXT;            -- the newest boot id seen (X-Boot-Id)
ALTER TABLE devices ADD COLUMN boot_seen_at BIGINT;     -- when that boot was last written down (every 30 s at most)
ALTER TABLE devices ADD COLUMN last_ip TEXT;

CREATE INDEX devices_by_merchant ON devices (merchant_id, lifecycle);

-- Who did what to a device, and when: one row per lifecycle step, flag, clearance, code issued.
CREATE TABLE device_events (
    id                TEXT PRIMARY KEY,
    device_id         TEXT NOT NULL REFERENCES devices (id),
    at                BIGINT NOT NULL,
    actor             TEXT NOT NULL,          -- console user name, "device" or "system"
    kind              TEXT NOT NULL,          -- assigned, installed, swapped_in, swapped_out, ...
    from_lifecycle    TEXT,
    to_lifecycle      TEXT,
    from_merchant_id  TEXT,
    to_merchant_id    TEXT,
    from_store        TEXT,
    to_store          TEXT,
    other_device_id   TEXT,                   -- a swap's other device
    detail            TEXT
);

CREATE INDEX device_events_by_device ON device_events (device_id, at);

CREATE TABLE device_inspections (
    id            TEXT PRIMARY KEY,
    device_id     TEXT NOT NULL REFERENCES devices (id),
    inspected_on  TEXT NOT NULL,              -- YYYY-MM-DD, China time
    inspector     TEXT NOT NULL,
    result        TEXT NOT NULL,              -- ok, defect, missing
    notes         TEXT,
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL
);

CREATE INDEX device_inspections_by_device ON device_inspections (device_id, inspected_on);

-- Raised by the device API, cleared by an operator; evidence is JSON (ids, IPs, times).
CREATE TABLE device_flags (
    id          TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    kind        TEXT NOT NULL,                -- moved, cloned
    raised_at   BIGINT NOT NULL,
    evidence    TEXT NOT NULL,
    cleared_at  BIGINT,
    cleared_by  TEXT,
    resolution  TEXT
);

CREATE INDEX device_flags_by_device ON device_flags (device_id, raised_at);

-- Boot ids a device's key was used with, remembered for [device_api] clone_window_s.
CREATE TABLE device_boots (
    device_id      TEXT NOT NULL REFERENCES devices (id),
    boot_id        TEXT NOT NULL,
    hardware_id    TEXT,
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    ip             TEXT,
    PRIMARY KEY (device_id, boot_id)
);

-- Where an installed device belongs: Wi-Fi access points (first five octets of the BSSID) and cell
-- areas (MCC-MNC-LAC) it reported at its store.
CREATE TABLE device_places (
    device_id      TEXT NOT NULL REFERENCES devices (id),
    token          TEXT NOT NULL,             -- "wifi:aabbccddee" or "cell:460-00-6228"
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    PRIMARY KEY (device_id, token)
);
