-- Signing-secret rotation: the secret replaced last keeps signing deliveries beside the new one
-- until previous_signing_valid_until, so that receivers switch secrets at their own pace.
ALTER TABLE projects ADD COLUMN previous_signing_secret_sealed bytea;
ALTER TABLE projects ADD COLUMN previous_signing_valid_until timestamptz;
-- Orders closed longer ago than this many days lose their personal data; NULL: kept.
ALTER TABLE projects ADD COLUMN retention_days integer;
-- When the order's personal data was erased (on request or by retention).
ALTER TABLE orders ADD COLUMN erased_at timestamptz;

-- Who changed what, from the admin API or the console. Never holds a secret or personal data.
CREATE TABLE audit_events (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text,
    project_id  uuid,
    outcome     text NOT NULL,
    status_code integer NOT NULL,
    request_id  text
);
CREATE INDEX audit_events_project ON audit_events (project_id, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
