-- Transactional outbox (hub/outbox.py is its one writer): every change of an alert, a risk clue
-- or a supervision-action record, written in the transaction of the change.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('alert', 'clue', 'record')),
    subject     bigint NOT NULL,
    change      text NOT NULL,
    site        text,
    department  text,
    severity    text,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    fanned      boolean NOT NULL DEFAULT false
);
-- The fan-out takes what it has not seen yet, oldest first.
CREATE INDEX outbox_unfanned ON outbox (id) WHERE NOT fanned;

-- One row per (change, destination) the destination's filters let through (hub/delivery.py).
CREATE TABLE outbox_deliveries (
    id            bigserial PRIMARY KEY,
    outbox_id     bigint NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    destination   text NOT NULL,
    kind          text NOT NULL,
    subject       bigint NOT NULL,
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL,
    last_error    text,
    delivered_at  timestamptz,
    UNIQUE (outbox_id, destination)
);
-- Due work, and the earlier undelivered change of the same record that holds a later one back.
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX outbox_deliveries_order ON outbox_deliveries (destination, kind, subject, outbox_id)
    WHERE state <> 'delivered';
