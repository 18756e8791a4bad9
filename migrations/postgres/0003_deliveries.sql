-- The outbox: one row per state change to deliver to the ATS, written in the same transaction
-- as the change itself.
CREATE TABLE deliveries (
    id              uuid PRIMARY KEY,
    order_id        uuid NOT NULL REFERENCES orders (id),
    project_id      uuid NOT NULL REFERENCES projects (id),
    url             text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL,
    next_attempt_at timestamptz,
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_order ON deliveries (order_id, id);
CREATE INDEX deliveries_status ON deliveries (status, id);

CREATE TABLE delivery_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES deliveries (id),
    at            timestamptz NOT NULL,
    status_code   integer,
    duration_ms   bigint NOT NULL,
    response_body text,
    error         text
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
