-- uuid columns are 16-byte BLOBs, timestamps RFC 3339 TEXT, JSON TEXT (sqlx's SQLite encodings).
CREATE TABLE projects (
    id                    BLOB PRIMARY KEY,
    name                  TEXT NOT NULL,
    signing_secret_sealed BLOB NOT NULL,
    created_at            TEXT NOT NULL
);

CREATE TABLE api_keys (
    id         BLOB PRIMARY KEY,
    project_id BLOB NOT NULL REFERENCES projects (id),
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX api_keys_project ON api_keys (project_id);

CREATE TABLE accounts (
    id                 BLOB PRIMARY KEY,
    project_id         BLOB NOT NULL REFERENCES projects (id),
    provider           TEXT NOT NULL,
    name               TEXT NOT NULL,
    credentials_sealed BLOB NOT NULL,
    settings           TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT
);
CREATE INDEX accounts_project ON accounts (project_id);

CREATE TABLE orders (
    id                 BLOB PRIMARY KEY,
    project_id         BLOB NOT NULL REFERENCES projects (id),
    account_id         BLOB NOT NULL REFERENCES accounts (id),
    provider           TEXT NOT NULL,
    client_key         TEXT,
    request_hash       TEXT NOT NULL,
    status             TEXT NOT NULL,
    package_id         TEXT NOT NULL,
    candidate_email    TEXT NOT NULL,
    remote_id          TEXT,
    test_url           TEXT,
    results_update_url TEXT,
    request            TEXT NOT NULL,
    provider_data      TEXT NOT NULL,
    result             TEXT,
    failure_reason     TEXT,
    next_poll_at       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (account_id, client_key)
);
CREATE INDEX orders_project ON orders (project_id, id);
CREATE INDEX orders_remote ON orders (provider, remote_id);
CREATE INDEX orders_due_poll ON orders (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX orders_pending ON orders (updated_at) WHERE status = 'pending';

CREATE TABLE order_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    BLOB NOT NULL REFERENCES orders (id),
    at          TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    message     TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);
