"""What the duty platform and the departments judge a finding to be, carried to its
supervision-action record, so that the provincial exchange is never left with a finding that
turned out false.

An alert dismissed as a false alarm, or a clue of it fed back as one, makes the record of the
finding say `no_problem`; a verdict taken back (the clue reopened) or a confirmation restores
what the finding said. Each record that changes becomes an update (operation U, a new exchange
time) and an outbox change, in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from hub import outbox
from hub.store.db import Connection

_RESTATE = """
WITH judged AS (
    SELECT r.id,
           CASE WHEN a.status = 'dismissed'
                  OR EXISTS (SELECT 1 FROM risk_clues c WHERE c.alert_id = a.id AND c.verdict = 'false_alarm')
                THEN 'no_problem'
                WHEN e.problem THEN 'problem_found' ELSE 'no_problem' END AS result
    FROM supervision_actions r
    JOIN alerts a ON a.id = r.alert_id
    JOIN events e ON e.id = r.event_id
    WHERE r.alert_id = %(alert)s)
UPDATE supervision_actions r SET result = judged.result, operation = 'U', exchange_time = %(at)s
FROM judged WHERE r.id = judged.id AND r.result <> judged.result
RETURNING r.id
"""


def restate_records(conn: Connection, alert_id: int | None, at: datetime) -> int:
    """Bring the records of alert `alert_id` in line with the verdicts on it; how many changed."""
    if alert_id is None:
        return 0
    changed = conn.execute(_RESTATE, {"alert": alert_id, "at": at}).fetchall()
    for (record_id,) in changed:
        outbox.enqueue(conn, "record", int(record_id), "update", at)
    return len(changed)
