-- Escalation (督办) of overdue risk clues (hub/escalation.py is its one writer): one row per clue
-- and deadline it missed, so that the hub escalates each once, across restarts and processes.
CREATE TABLE clue_escalations (
    clue_id   bigint NOT NULL REFERENCES risk_clues (id),
    deadline  text NOT NULL CHECK (deadline IN ('claim', 'feedback')),
    due_at    timestamptz NOT NULL,
    at        timestamptz NOT NULL,
    PRIMARY KEY (clue_id, deadline)
);

-- The figures of a period over every department (hub/statistics.py).
CREATE INDEX risk_clues_issued ON risk_clues (issued_at);
