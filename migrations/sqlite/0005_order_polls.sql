-- When each open order is next read from its vendor, in a narrow table of its own. Callbacks,
-- claims and reschedules write this time far more often than anything else about an order; on the
-- wide orders row each such write copied the row and added an entry to each of its seven indexes.
-- No row: the order is not polled.
CREATE TABLE order_polls (
    order_id BLOB PRIMARY KEY REFERENCES orders (id),
    due_at   TEXT NOT NULL
);
INSERT INTO order_polls (order_id, due_at)
    SELECT id, next_poll_at FROM orders WHERE next_poll_at IS NOT NULL;
CREATE INDEX order_polls_due ON order_polls (due_at);
DROP INDEX orders_due_poll;
ALTER TABLE orders DROP COLUMN next_poll_at;
