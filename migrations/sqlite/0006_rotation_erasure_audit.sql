-- Signing-secret rotation: the secret replaced last keeps signing deliveries beside the new one
-- until previous_signing_valid_until, so that receivers switch secrets at their own pace.
ALTER TABLE projects ADD COLUMN previous_signing_secret_sealed BLOB;
ALTER TABLE projects ADD COLUMN previous_signing_valid_until TEXT;
-- Orders closed longer ago than this many days lose their personal data; NULL: kept.
ALTER TABLE projects ADD COLUMN retention_days INTEGER;
-- When the order's personal data was erased (on request or by retention).
ALTER TABLE orders ADD COLUMN erased_at TEXT;

-- Who changed what, from the admin API or the console. Never holds a secret or personal data.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    project_id  BLOB,
    outcome     TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    request_id  TEXT
);
CREATE INDEX audit_events_project ON audit_events (project_id, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
