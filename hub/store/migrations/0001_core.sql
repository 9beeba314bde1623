-- Core records of the hub: events in, alerts, supervision-action records, risk clues, evidence, audit.

CREATE TABLE config_versions (
    sha256      text PRIMARY KEY,
    name        text NOT NULL,
    body        text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE evidence (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        bigint NOT NULL CHECK (size >= 0),
    media_type  text NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    id          text PRIMARY KEY,
    source      text NOT NULL,
    site        text NOT NULL,
    rule        text NOT NULL,
    severity    text NOT NULL,
    time        timestamptz NOT NULL,
    cleared     boolean NOT NULL DEFAULT false,
    problem     boolean NOT NULL DEFAULT true,
    object_code text,
    payload     jsonb NOT NULL DEFAULT '{}',
    evidence    text[] NOT NULL DEFAULT '{}',
    received_at timestamptz NOT NULL,
    outcome     text NOT NULL,
    alert_id    bigint
);
CREATE INDEX events_source_rule_time ON events (source, rule, time);

CREATE TABLE alerts (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,
    site          text NOT NULL,
    rule          text NOT NULL,
    title         text NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('info', 'minor', 'major', 'critical')),
    status        text NOT NULL CHECK (status IN ('open', 'acknowledged', 'closed', 'dismissed')),
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    ended_at      timestamptz,
    count         integer NOT NULL DEFAULT 1,
    evidence      text[] NOT NULL DEFAULT '{}',
    first_event   text NOT NULL REFERENCES events (id),
    last_event    text NOT NULL REFERENCES events (id),
    updated_at    timestamptz NOT NULL
);
-- One alert per (source, rule) while its cause lasts.
CREATE UNIQUE INDEX alerts_one_active ON alerts (source, rule) WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_recent ON alerts (first_seen DESC, id DESC);
CREATE INDEX alerts_cooldown ON alerts (source, rule, ended_at DESC);
ALTER TABLE events ADD CONSTRAINT events_alert FOREIGN KEY (alert_id) REFERENCES alerts (id);

CREATE TABLE alert_transitions (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, id);

CREATE TABLE supervision_actions (
    id              bigserial PRIMARY KEY,
    record_id       uuid NOT NULL UNIQUE,
    event_id        text NOT NULL UNIQUE REFERENCES events (id),
    alert_id        bigint REFERENCES alerts (id),
    item_code       text NOT NULL CHECK (item_code ~ '^\d{14}$'),
    item_name       text NOT NULL,
    list_code       text NOT NULL,
    department_code text NOT NULL,
    department_name text NOT NULL,
    object_name     text,
    object_code     text,
    area_code       text NOT NULL CHECK (area_code ~ '^\d{6}$'),
    method          text NOT NULL DEFAULT 'non_site',
    result          text NOT NULL CHECK (result IN ('problem_found', 'no_problem')),
    inspected_at    timestamptz NOT NULL,
    site            text NOT NULL,
    rule            text NOT NULL,
    evidence        text[] NOT NULL DEFAULT '{}',
    config_sha256   text NOT NULL,
    batch_id        text NOT NULL,
    operation       text NOT NULL CHECK (operation IN ('I', 'U', 'D')),
    exchange_source text NOT NULL,
    exchange_time   timestamptz NOT NULL
);
CREATE INDEX supervision_actions_time ON supervision_actions (inspected_at DESC, id DESC);

CREATE TABLE risk_clues (
    id                bigserial PRIMARY KEY,
    event_id          text NOT NULL UNIQUE REFERENCES events (id),
    alert_id          bigint REFERENCES alerts (id),
    action_id         bigint REFERENCES supervision_actions (id),
    route_id          text NOT NULL,
    department        text NOT NULL,
    department_code   text NOT NULL,
    site              text NOT NULL,
    rule              text NOT NULL,
    item_code         text NOT NULL,
    object_code       text,
    title             text NOT NULL,
    risk_class        smallint NOT NULL CHECK (risk_class BETWEEN 1 AND 3),
    status            text NOT NULL CHECK (status IN ('issued', 'claimed', 'handled', 'fed_back', 'closed')),
    issued_at         timestamptz NOT NULL,
    claim_deadline    timestamptz NOT NULL,
    feedback_deadline timestamptz NOT NULL,
    claimed_at        timestamptz,
    fed_back_at       timestamptz,
    closed_at         timestamptz,
    verdict           text CHECK (verdict IN ('confirmed', 'false_alarm')),
    feedback          text,
    evidence          text[] NOT NULL DEFAULT '{}',
    feedback_evidence text[] NOT NULL DEFAULT '{}',
    updated_at        timestamptz NOT NULL
);
CREATE INDEX risk_clues_department ON risk_clues (department, issued_at DESC, id DESC);
CREATE INDEX risk_clues_open_deadlines ON risk_clues (status, claim_deadline, feedback_deadline)
    WHERE status <> 'closed';

CREATE TABLE clue_transitions (
    id          bigserial PRIMARY KEY,
    clue_id     bigint NOT NULL REFERENCES risk_clues (id),
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX clue_transitions_clue ON clue_transitions (clue_id, id);

-- Append-only audit trail: each entry carries the SHA-256 of the previous one.
CREATE TABLE audit_log (
    seq       bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    action    text NOT NULL,
    subject   text NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}',
    prev_hash text NOT NULL,
    hash      text NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;
-- The latest entry, kept apart from the chain, so that removing the last entries is noticed too.
CREATE TABLE audit_head (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq   bigint NOT NULL,
    hash  text NOT NULL
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
