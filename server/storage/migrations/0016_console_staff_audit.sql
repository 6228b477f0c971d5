-- People and roles in the console (docs/console.md, "Users and roles"): a merchant user's place in its
-- merchant, the merchant's refund password, and the audit log.
-- Existing merchant users were their merchant's only users: they become its owners.
ALTER TABLE console_users ADD COLUMN staff_role TEXT;
UPDATE console_users SET staff_role = 'owner' WHERE role = 'merchant';

-- The password a refund by the merchant's owner or manager must give (scrypt, like login passwords), and
-- its wrong tries in a row: after [console] max_failed_logins, refunds are locked for lockout_s.
CREATE TABLE merchant_refund_passwords (
    merchant_id    TEXT PRIMARY KEY REFERENCES merchants (id),
    password_hash  TEXT NOT NULL,
    failed_tries   INTEGER NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    set_at         BIGINT NOT NULL,
    set_by         TEXT NOT NULL
);

-- Who did what and when in the console. Never a password, never a whole payment code.
CREATE TABLE console_audit (
    id           TEXT PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,                  -- the console user name ('' before a login)
    actor_role   TEXT NOT NULL,                  -- operator, owner, manager, cashier
    merchant_id  TEXT,                           -- whose merchant the action concerns (NULL: the acquirer's)
    action       TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    detail       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX console_audit_by_time ON console_audit (at);
CREATE INDEX console_audit_by_merchant ON console_audit (merchant_id, at);
