-- The operations API (docs/operations.md, "Operations HTTP API"): device profiles and groups, published
-- firmware, staged rollouts and the OTA steps devices report.
ALTER TABLE devices ADD COLUMN profile TEXT;
ALTER TABLE devices ADD COLUMN device_group TEXT;

CREATE INDEX devices_by_profile ON devices (profile, device_group);

-- A published build: its files are under [ops] firmware_dir/<profile>/<version>/.
CREATE TABLE firmware_releases (
    profile         TEXT NOT NULL,
    version         TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    signature       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (profile, version)
);

CREATE TABLE rollouts (
    id                TEXT PRIMARY KEY,
    profile           TEXT NOT NULL,
    version           TEXT NOT NULL,
    failure_threshold DOUBLE PRECISION NOT NULL,
    min_settled       INTEGER NOT NULL,
    state             TEXT NOT NULL,
    stages            INTEGER NOT NULL DEFAULT 0,
    reason            TEXT,
    created_at        BIGINT NOT NULL,
    stopped_at        BIGINT
);

-- One row per device offered a rollout's build: offered, installing, updated, failed, rolled_back, withdrawn.
CREATE TABLE rollout_devices (
    rollout_id  TEXT NOT NULL REFERENCES rollouts (id),
    device_id   TEXT NOT NULL REFERENCES devices (id),
    stage       INTEGER NOT NULL,
    command_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    last_step   TEXT,
    detail      TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);

CREATE INDEX rollout_devices_by_device ON rollout_devices (device_id, status);
