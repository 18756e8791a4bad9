-- SHA-256 of the order's callback token (the secret part of the URL handed to vendors that call back).
ALTER TABLE orders ADD COLUMN callback_token_hash text;
CREATE UNIQUE INDEX orders_callback_token ON orders (callback_token_hash);
