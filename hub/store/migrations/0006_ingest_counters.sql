-- What the ingest processes (`offsite iot run`, `offsite vision run`) have counted, added up across
-- their lifetimes and processes, so that the API's /metrics can show them whichever process asks.
CREATE TABLE ingest_counters (
    kind       text NOT NULL CHECK (kind IN ('sensors', 'cameras')),
    source     text NOT NULL,  -- an ingest worker's client id, or a camera id
    counter    text NOT NULL,
    value      bigint NOT NULL CHECK (value >= 0),
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (kind, source, counter)
);
