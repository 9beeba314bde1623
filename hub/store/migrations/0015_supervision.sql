-- Overdue clues, in two steps (hub/escalation.py is the one writer of both tables): at a missed
-- deadline the department is reminded (催办; the rows 0014 named escalations), and a route's
-- escalate_after later the clue is escalated (督办) to the supervising department the route
-- names, which may then read it.
ALTER TABLE clue_escalations RENAME TO clue_reminders;

CREATE TABLE clue_supervisors (
    clue_id    bigint NOT NULL REFERENCES risk_clues (id),
    deadline   text NOT NULL CHECK (deadline IN ('claim', 'feedback')),
    department text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (clue_id, deadline)
);
-- The clues a supervising department reads (hub/clues.py).
CREATE INDEX clue_supervisors_department ON clue_supervisors (department, clue_id);

-- The figures of hub/statistics.py (its one writer of these tables), rolled up per local day and
-- month of the deployment's time zone, so that a year's figures read thousands of rows, not
-- millions. Triggers note, in the transaction of each change that moves a figure, the UTC hour of
-- the alert or record it touches (a new alert, a status or verdict that changed, a record's
-- result or withdrawal); hub.statistics.refresh recomputes the local days of those hours from the
-- rows themselves, so that a late dismissal or verdict lands in the day the alert began.
CREATE TABLE statistics_dirty (
    id   bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('alert', 'record', 'clue')),
    hour timestamptz NOT NULL
);

-- The zone the rollups' days are local to: another zone rebuilds them all.
CREATE TABLE statistics_zone (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    timezone text NOT NULL
);

-- Alerts that began in the span, by the department of their (first) clue ('' none), site, rule,
-- source and the model version their first event names ('' none).
CREATE TABLE alert_rollups (
    span         text NOT NULL CHECK (span IN ('day', 'month')),
    start        date NOT NULL,
    department   text NOT NULL,
    site         text NOT NULL,
    rule         text NOT NULL,
    source       text NOT NULL,
    model        text NOT NULL,
    alerts       integer NOT NULL,
    dismissed    integer NOT NULL,
    false_alarms integer NOT NULL,
    PRIMARY KEY (span, start, department, site, rule, source, model)
);

-- Supervision-action records inspected in the span (withdrawn ones left out), by department and item.
CREATE TABLE record_rollups (
    span            text NOT NULL CHECK (span IN ('day', 'month')),
    start           date NOT NULL,
    department_code text NOT NULL,
    item_code       text NOT NULL,
    item_name       text NOT NULL,
    records         integer NOT NULL,
    problem_found   integer NOT NULL,
    PRIMARY KEY (span, start, department_code, item_code)
);

-- Clues answered (fed back), whose figures no longer move, by the day they were issued and their
-- department: the seconds to claim and to answer kept whole for exact percentiles. The clues not
-- answered yet are read from risk_clues (overdue and open are judged at the moment asked).
CREATE TABLE clue_rollups (
    span             text NOT NULL CHECK (span IN ('day', 'month')),
    start            date NOT NULL,
    department       text NOT NULL,
    received         integer NOT NULL,
    claimed_in_time  integer NOT NULL,
    answered_in_time integer NOT NULL,
    overdue          integer NOT NULL,
    escalated        integer NOT NULL,
    to_claim         float8[] NOT NULL,
    to_answer        float8[] NOT NULL,
    PRIMARY KEY (span, start, department)
);
CREATE INDEX risk_clues_unanswered ON risk_clues (issued_at) WHERE fed_back_at IS NULL;
-- Arrays joined end to end: a group's seconds to claim or to answer, for its percentiles.
CREATE AGGREGATE statistics_concat (float8[]) (SFUNC = array_cat, STYPE = float8[], INITCOND = '{}');

CREATE FUNCTION statistics_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'alerts' THEN
        INSERT INTO statistics_dirty (kind, hour) VALUES ('alert', date_trunc('hour', NEW.first_seen));
    ELSIF TG_TABLE_NAME = 'risk_clues' THEN
        INSERT INTO statistics_dirty (kind, hour) VALUES ('clue', date_trunc('hour', NEW.issued_at));
        INSERT INTO statistics_dirty (kind, hour)
            SELECT 'alert', date_trunc('hour', a.first_seen) FROM alerts a WHERE a.id = NEW.alert_id;
    ELSE
        INSERT INTO statistics_dirty (kind, hour) VALUES ('record', date_trunc('hour', NEW.inspected_at));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER alerts_statistics_insert AFTER INSERT ON alerts
    FOR EACH ROW EXECUTE FUNCTION statistics_mark();
CREATE TRIGGER alerts_statistics_update AFTER UPDATE ON alerts
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION statistics_mark();
CREATE TRIGGER risk_clues_statistics_insert AFTER INSERT ON risk_clues
    FOR EACH ROW EXECUTE FUNCTION statistics_mark();
CREATE TRIGGER risk_clues_statistics_update AFTER UPDATE ON risk_clues
    FOR EACH ROW WHEN (OLD.verdict IS DISTINCT FROM NEW.verdict OR OLD.fed_back_at IS DISTINCT FROM NEW.fed_back_at)
    EXECUTE FUNCTION statistics_mark();
CREATE TRIGGER supervision_actions_statistics_insert AFTER INSERT ON supervision_actions
    FOR EACH ROW EXECUTE FUNCTION statistics_mark();
CREATE TRIGGER supervision_actions_statistics_update AFTER UPDATE ON supervision_actions
    FOR EACH ROW WHEN (OLD.result IS DISTINCT FROM NEW.result OR OLD.operation IS DISTINCT FROM NEW.operation)
    EXECUTE FUNCTION statistics_mark();
