-- The attendee room role: watches, listens and chats, publishes nothing.
-- SQLite cannot widen a CHECK constraint in place, so the two tables whose
-- role column names the room roles are rebuilt with their data. Nothing
-- references them by foreign key. (Guests stay participants.)
CREATE TABLE room_roles_new (
    room_id TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('host', 'participant', 'attendee')),
    PRIMARY KEY (room_id, user_id)
);
INSERT INTO room_roles_new (room_id, user_id, role) SELECT room_id, user_id, role FROM room_roles;
DROP TABLE room_roles;
ALTER TABLE room_roles_new RENAME TO room_roles;
CREATE INDEX room_roles_user ON room_roles (user_id);

CREATE TABLE invites_new (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('host', 'participant', 'attendee')),
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked_ms INTEGER
);
INSERT INTO invites_new SELECT id, token_hash, room_id, role, created_by, created_ms, expires_ms, revoked_ms FROM invites;
DROP TABLE invites;
ALTER TABLE invites_new RENAME TO invites;
CREATE INDEX invites_room ON invites (room_id);
