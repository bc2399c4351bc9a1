-- Accounts, sessions, rooms, room roles, invites, guests, settings, login
-- rate limits and the audit log. Times are milliseconds since the Unix epoch.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,            -- stored lower-cased
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,                   -- Argon2id PHC string
    global_role   TEXT NOT NULL CHECK (global_role IN ('admin', 'member')),
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
);

-- A guest joined a room through an invite, without an account.
CREATE TABLE guests (
    id         TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('host', 'participant')),
    invite_id  TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

-- Exactly one of user_id and guest_id is set. Only the SHA-256 of the token
-- is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    guest_id   TEXT REFERENCES guests(id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    ip         TEXT,
    CHECK ((user_id IS NULL) <> (guest_id IS NULL))
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_guest ON sessions (guest_id);

CREATE TABLE rooms (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    owner_id         TEXT NOT NULL REFERENCES users(id),
    allow_guests     INTEGER NOT NULL DEFAULT 0,
    lobby            INTEGER NOT NULL DEFAULT 0,
    locked           INTEGER NOT NULL DEFAULT 0,
    max_participants INTEGER NOT NULL DEFAULT 100,
    created_ms       INTEGER NOT NULL,
    ended_ms         INTEGER
);

CREATE TABLE room_roles (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('host', 'participant')),
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_roles_user ON room_roles (user_id);

-- Only the SHA-256 of the invite's secret token is stored.
CREATE TABLE invites (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('host', 'participant')),
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
CREATE INDEX invites_room ON invites (room_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO settings (key, value) VALUES ('signup_open', 'true');

-- Failed logins per key ('account:<email>' or 'address:<ip>') in the
-- current window.
CREATE TABLE login_failures (
    key             TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    window_start_ms INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    actor  TEXT,            -- user id, 'guest:<id>', or NULL
    action TEXT NOT NULL,   -- login_ok, login_failed, signup, logout, ...
    target TEXT,
    ip     TEXT,
    detail TEXT             -- JSON
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
