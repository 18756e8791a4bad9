-- The claim's "no older pending delivery of the same order" check looks up an order's pending
-- deliveries; without this index SQLite answered it from (status, id), scanning every pending
-- delivery for each candidate (quadratic in the backlog).
CREATE INDEX deliveries_pending_order ON deliveries (order_id, id) WHERE status = 'pending';
