-- Sensor messages that could not become readings, kept with the reason so nothing is lost silently.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    payload_head bytea NOT NULL,
    payload_size integer NOT NULL,
    sensor       text,
    reason       text NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);
