CREATE TABLE projects (
    id                    uuid PRIMARY KEY,
    name                  text NOT NULL,
    signing_secret_sealed bytea NOT NULL,
    created_at            timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id),
    name       text NOT NULL,
    key_hash   text NOT NULL UNIQUE,
    key_prefix text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX api_keys_project ON api_keys (project_id);

CREATE TABLE accounts (
    id                 uuid PRIMARY KEY,
    project_id         uuid NOT NULL REFERENCES projects (id),
    provider           text NOT NULL,
    name               text NOT NULL,
    credentials_sealed bytea NOT NULL,
    settings           jsonb NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz
);
CREATE INDEX accounts_project ON accounts (project_id);

CREATE TABLE orders (
    id                 uuid PRIMARY KEY,
    project_id         uuid NOT NULL REFERENCES projects (id),
    account_id         uuid NOT NULL REFERENCES accounts (id),
    provider           text NOT NULL,
    client_key         text,
    request_hash       text NOT NULL,
    status             text NOT NULL,
    package_id         text NOT NULL,
    candidate_email    text NOT NULL,
    remote_id          text,
    test_url           text,
    results_update_url text,
    request            jsonb NOT NULL,
    provider_data      jsonb NOT NULL,
    result             jsonb,
    failure_reason     text,
    next_poll_at       timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    -- NULL keys are distinct: orders without a client key never collide.
    UNIQUE (account_id, client_key)
);
CREATE INDEX orders_project ON orders (project_id, id);
CREATE INDEX orders_remote ON orders (provider, remote_id);
CREATE INDEX orders_due_poll ON orders (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX orders_pending ON orders (updated_at) WHERE status = 'pending';

CREATE TABLE order_events (
    id          bigserial PRIMARY KEY,
    order_id    uuid NOT NULL REFERENCES orders (id),
    at          timestamptz NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    message     text NOT NULL,
    data        jsonb NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);
