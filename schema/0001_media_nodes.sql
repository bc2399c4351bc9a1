-- Media-node registry. A node registers, heartbeats with its load, and says
-- goodbye on graceful shutdown (state 'gone'). Health is derived from
-- last_seen_ms at query time; nothing sweeps the table.
CREATE TABLE media_nodes (
    id            TEXT PRIMARY KEY,
    region        TEXT NOT NULL,
    media_addr    TEXT NOT NULL,   -- UDP ip:port browsers send media to
    control_url   TEXT NOT NULL,   -- base URL of the node's HTTP control API
    version       TEXT NOT NULL,
    rooms         INTEGER NOT NULL DEFAULT 0,
    participants  INTEGER NOT NULL DEFAULT 0,
    registered_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('up', 'gone'))
);

CREATE INDEX media_nodes_healthy ON media_nodes (state, last_seen_ms);
