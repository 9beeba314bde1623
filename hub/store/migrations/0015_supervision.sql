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
