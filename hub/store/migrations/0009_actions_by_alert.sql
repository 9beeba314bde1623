-- An alert's page lists the supervision-action records of its findings.
CREATE INDEX supervision_actions_alert ON supervision_actions (alert_id);
