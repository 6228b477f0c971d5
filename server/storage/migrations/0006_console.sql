-- The web console (docs/console.md): its users and their server-side sessions.
-- A merchant user sees only its merchant's stores, devices and orders; an operator sees everything.
CREATE TABLE console_users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,                 -- scrypt$N$r$p$salt_hex$hash_hex, a salt per user
    role           TEXT NOT NULL CHECK (role IN ('operator', 'merchant')),
    merchant_id    TEXT REFERENCES merchants (id),
    disabled       INTEGER NOT NULL DEFAULT 0,
    failed_logins  INTEGER NOT NULL DEFAULT 0,    -- wrong passwords in a row; reset by a good one
    locked_until   BIGINT,                        -- too many wrong passwords: refused until then
    created_at     BIGINT NOT NULL,
    last_login_at  BIGINT,
    CHECK ((role = 'merchant') = (merchant_id IS NOT NULL))
);

-- The cookie holds a random token; the database only its SHA-256, so a copy of the table logs nobody in.
-- Rows live in the database (not in one process's memory), so every server process knows every session.
CREATE TABLE console_sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES console_users (id),
    csrf_token  TEXT NOT NULL,                    -- every form and unsafe request carries it
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE INDEX console_sessions_by_user ON console_sessions (user_id);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
