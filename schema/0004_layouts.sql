-- Layouts saved on an account: a name and the arrangement as JSON
-- (protocol::layout::Layout); at most one per account is the default.
CREATE TABLE layouts (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE INDEX layouts_user ON layouts (user_id, created_ms);
