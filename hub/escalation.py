"""Overdue risk clues escalated (督办) by the hub's periodic tick.

A clue that passes its claim or feedback deadline without the step it asks for
(`RiskClue.overdue`) is escalated once per deadline: a step `escalate` in the clue's trail (its
status unchanged), an entry in the audit log and a change in the outbox, so that the dashboard and
the webhooks see it, all in one transaction. `clue_escalations` (migration 0014, written only here)
holds one row per clue and deadline: a restarted hub, or a second hub process ticking on the same
database, finds the row and escalates nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from hub.clues import get_clue
from hub.config import Deployment
from hub.store.db import Connection, Database
from hub.wording import ESCALATION_NOTES, moment
from hub.workflow import CLUES

ACTOR = "system:escalation"
ACTION = "escalate"
Deadline = Literal["claim", "feedback"]

# The same test as RiskClue.overdue, in SQL, for the clues not yet escalated for that deadline.
_DUE = """
SELECT id, deadline FROM (
    SELECT c.id, CASE WHEN c.status = 'issued' AND c.claim_deadline < %(now)s THEN 'claim'
                      ELSE 'feedback' END AS deadline,
           CASE WHEN c.status = 'issued' AND c.claim_deadline < %(now)s THEN c.claim_deadline
                ELSE c.feedback_deadline END AS due_at
    FROM risk_clues c
    WHERE c.status IN ('issued', 'claimed', 'handled')
      AND ((c.status = 'issued' AND c.claim_deadline < %(now)s) OR c.feedback_deadline < %(now)s)
) due
WHERE NOT EXISTS (SELECT 1 FROM clue_escalations e WHERE e.clue_id = due.id AND e.deadline = due.deadline)
ORDER BY due_at, id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Escalation:
    """One clue escalated for one missed deadline."""

    clue_id: int
    department: str
    deadline: Deadline
    due_at: datetime


def escalate(conn: Connection, deployment: Deployment, clue_id: int, now: datetime) -> Escalation | None:
    """Escalate the clue if it is overdue at `now` and was not yet escalated for that deadline;
    in the caller's transaction. None when there is nothing (left) to do."""
    status = CLUES.lock(conn, clue_id)  # a department's claim waits, or has already committed
    clue = get_clue(conn, clue_id)
    deadline = clue.overdue(now)
    if deadline is None:
        return None
    due_at = clue.claim_deadline if deadline == "claim" else clue.feedback_deadline
    kept = conn.execute(
        "INSERT INTO clue_escalations (clue_id, deadline, due_at, at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING clue_id",
        (clue_id, deadline, due_at, now),
    ).fetchone()
    if kept is None:
        return None  # escalated before, by this process or another
    note = ESCALATION_NOTES[deployment.language][deadline].format(due=moment(due_at, deployment.tz))
    detail = {"deadline": deadline, "due_at": due_at.isoformat()}
    CLUES.record(conn, clue_id, ACTION, status, status, ACTOR, now, note, detail)
    return Escalation(clue_id, clue.department, deadline, due_at)


def escalate_overdue(
    db: Database, deployment: Deployment, now: datetime, *, limit: int = 1000
) -> list[Escalation]:
    """Escalate every clue overdue at `now` that was not escalated for that deadline yet, each in
    a transaction of its own (the audit log's lock is held for one clue, not for the round); at
    most `limit` a round, the longest overdue first. What this call escalated."""
    with db.transaction() as conn:
        due = conn.execute(_DUE, {"now": now, "limit": limit}).fetchall()
    done = []
    for clue_id, _ in due:
        with db.transaction() as conn:
            escalation = escalate(conn, deployment, int(clue_id), now)
        if escalation is not None:
            done.append(escalation)
    return done
