-- Failed dashboard logins, counted per user name (`user:NAME`) and per client address
-- (`address:IP`), so that every API process throttles the same guesses (api/throttle.py).
CREATE TABLE login_failures (
    key text PRIMARY KEY,
    failures integer NOT NULL CHECK (failures > 0),
    last_failure timestamptz NOT NULL,
    locked_until timestamptz
);
CREATE INDEX login_failures_last_failure ON login_failures (last_failure);
