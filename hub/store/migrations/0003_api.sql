-- The API: access tokens, dashboard users, the alert change feed, and indexes for the list queries.

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),  -- SHA-256 of the secret
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'operator', 'department', 'edge')),
    department  text,
    site        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz,
    CHECK ((role = 'department') = (department IS NOT NULL)),
    CHECK ((role = 'edge') = (site IS NOT NULL))
);

CREATE TABLE api_users (
    username      text PRIMARY KEY CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    password_hash text NOT NULL,  -- argon2id
    role          text NOT NULL CHECK (role IN ('admin', 'operator', 'department')),
    department    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'department') = (department IS NOT NULL))
);

-- The deployment as administrators edited it through the API; the newest version is in force.
CREATE TABLE config_active (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    sha256  text NOT NULL REFERENCES config_versions (sha256),
    set_at  timestamptz NOT NULL,
    set_by  text NOT NULL
);

-- Every change of an alert, written by a trigger in the transaction that makes it. Writers are
-- serialised on the audit trail's advisory lock (which every alert transition takes anyway), so
-- ids are handed out in commit order and a reader resuming after id N misses nothing.
CREATE TABLE alert_changes (
    id        bigserial PRIMARY KEY,
    alert_id  bigint NOT NULL,
    op        text NOT NULL CHECK (op IN ('insert', 'update')),
    at        timestamptz NOT NULL DEFAULT now(),
    alert     jsonb NOT NULL
);
CREATE INDEX alert_changes_alert ON alert_changes (alert_id, id);
CREATE INDEX alert_changes_at ON alert_changes (at);

CREATE FUNCTION alert_changes_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(267755729);  -- 0x0FF5A0D1, hub.audit's lock
    INSERT INTO alert_changes (alert_id, op, alert)
        VALUES (NEW.id, lower(TG_OP), to_jsonb(NEW))
        RETURNING id INTO change_id;
    PERFORM pg_notify('alert_changes', change_id::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER alerts_changes AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION alert_changes_record();

-- Keyset pagination of the alert list, newest first, with one filter at a time.
CREATE INDEX alerts_site_recent ON alerts (site, first_seen DESC, id DESC);
CREATE INDEX alerts_status_recent ON alerts (status, first_seen DESC, id DESC);
CREATE INDEX alerts_severity_recent ON alerts (severity, first_seen DESC, id DESC);
CREATE INDEX alerts_rule_recent ON alerts (rule, first_seen DESC, id DESC);
CREATE INDEX alerts_source_recent ON alerts (source, first_seen DESC, id DESC);
CREATE INDEX risk_clues_alert ON risk_clues (alert_id);
CREATE INDEX supervision_actions_asc ON supervision_actions (inspected_at, id);
