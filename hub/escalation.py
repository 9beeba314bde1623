"""Overdue risk clues, chased by the hub's periodic tick: reminded (催办), then escalated (督办).

A clue that passes its claim or feedback deadline without the step it asks for
(`RiskClue.overdue`) is overdue from that moment: the tick after it reminds the department, once
per deadline (a step `remind` in the clue's trail, its status unchanged). If the clue's route
names a supervising department (`escalate_to`) and the clue is still overdue for that deadline
`escalate_after` after it, the tick escalates it there (a step `escalate`). Each step is kept in
the trail, the audit log and the outbox (so that the dashboard and the webhooks see it) in one
transaction per clue.

The delay is set on the route, beside the supervisor it names, rather than per risk class: who
presses whom is a relation between two departments that the route already states, and a route
whose clues are urgent (it may set their risk class too) sets a short delay.

The supervising department may then read the clue (hub/clues.py, `supervising`), but not claim,
handle or answer it: the department it was routed to stays the one that acts and whose figures
count; the supervisor presses it outside the hub, and the duty platform may reopen the answer.

`clue_reminders` and `clue_supervisors` (migration 0015, written only here) hold one row per
clue and deadline: a restarted hub, or a second hub process ticking on the same database, finds
the row and does nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from hub.clues import get_clue
from hub.config import Deployment
from hub.records import RiskClue
from hub.store.db import Connection, Database
from hub.wording import ESCALATION_NOTES, REMINDER_NOTES, moment
from hub.workflow import CLUES

ACTOR = "system:escalation"
Deadline = Literal["claim", "feedback"]

# The same test as RiskClue.overdue, in SQL, for the clues not yet reminded of that deadline.
_DUE = """
SELECT id FROM (
    SELECT c.id, CASE WHEN c.status = 'issued' AND c.claim_deadline < %(now)s THEN 'claim'
                      ELSE 'feedback' END AS deadline,
           CASE WHEN c.status = 'issued' AND c.claim_deadline < %(now)s THEN c.claim_deadline
                ELSE c.feedback_deadline END AS due_at
    FROM risk_clues c
    WHERE c.status IN ('issued', 'claimed', 'handled')
      AND ((c.status = 'issued' AND c.claim_deadline < %(now)s) OR c.feedback_deadline < %(now)s)
) due
WHERE NOT EXISTS (SELECT 1 FROM clue_reminders r WHERE r.clue_id = due.id AND r.deadline = due.deadline)
ORDER BY due_at, id
LIMIT %(limit)s
"""

# Reminded clues of routes with a supervisor, still open, reminded escalate_after ago or more and
# not yet escalated for that deadline (whether they are still overdue for it is checked under lock).
_LATE = """
SELECT r.clue_id FROM clue_reminders r
JOIN risk_clues c ON c.id = r.clue_id
JOIN unnest(%(routes)s::text[], %(after)s::float8[]) AS route (id, after) ON route.id = c.route_id
WHERE ((r.deadline = 'claim' AND c.status = 'issued')
       OR (r.deadline = 'feedback' AND c.status IN ('claimed', 'handled')))
  AND r.due_at + make_interval(secs => route.after) < %(now)s
  AND NOT EXISTS (SELECT 1 FROM clue_supervisors s WHERE s.clue_id = r.clue_id AND s.deadline = r.deadline)
ORDER BY r.due_at, r.clue_id
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Reminder:
    """A department reminded of one clue's missed deadline."""

    clue_id: int
    department: str
    deadline: Deadline
    due_at: datetime


@dataclass(frozen=True)
class Escalation:
    """One clue escalated to its supervising department for one missed deadline."""

    clue_id: int
    department: str
    supervisor: str
    deadline: Deadline
    due_at: datetime


@dataclass(frozen=True)
class Chased:
    """What one tick did."""

    reminded: list[Reminder] = field(default_factory=list)
    escalated: list[Escalation] = field(default_factory=list)


def _overdue(conn: Connection, clue_id: int) -> tuple[str, RiskClue]:
    status = CLUES.lock(conn, clue_id)  # a department's claim waits, or has already committed
    return status, get_clue(conn, clue_id)


def _due_at(clue: RiskClue, deadline: Deadline) -> datetime:
    return clue.claim_deadline if deadline == "claim" else clue.feedback_deadline


def remind(conn: Connection, deployment: Deployment, clue_id: int, now: datetime) -> Reminder | None:
    """Remind the department of the clue if it is overdue at `now` and was not yet reminded of
    that deadline; in the caller's transaction. None when there is nothing (left) to do."""
    status, clue = _overdue(conn, clue_id)
    deadline = clue.overdue(now)
    if deadline is None:
        return None
    due_at = _due_at(clue, deadline)
    kept = conn.execute(
        "INSERT INTO clue_reminders (clue_id, deadline, due_at, at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING clue_id",
        (clue_id, deadline, due_at, now),
    ).fetchone()
    if kept is None:
        return None  # reminded before, by this process or another
    note = REMINDER_NOTES[deployment.language][deadline].format(due=moment(due_at, deployment.tz))
    detail = {"deadline": deadline, "due_at": due_at.isoformat()}
    CLUES.record(conn, clue_id, "remind", status, status, ACTOR, now, note, detail)
    return Reminder(clue_id, clue.department, deadline, due_at)


def escalate(conn: Connection, deployment: Deployment, clue_id: int, now: datetime) -> Escalation | None:
    """Escalate the clue to its route's supervising department if it is still overdue at `now`
    for a deadline missed `escalate_after` ago or more and not escalated for it yet; in the
    caller's transaction. None when there is nothing (left) to do."""
    status, clue = _overdue(conn, clue_id)
    deadline = clue.overdue(now)
    route = next((r for r in deployment.routing if r.id == clue.route_id), None)
    if deadline is None or route is None or route.escalate_to is None:
        return None  # answered meanwhile, or the route has changed
    due_at = _due_at(clue, deadline)
    if now <= due_at + timedelta(seconds=route.escalation_delay):
        return None
    kept = conn.execute(
        "INSERT INTO clue_supervisors (clue_id, deadline, department, at) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING RETURNING clue_id",
        (clue_id, deadline, route.escalate_to, now),
    ).fetchone()
    if kept is None:
        return None
    supervisor = deployment.department_by_id[route.escalate_to]
    note = ESCALATION_NOTES[deployment.language][deadline].format(
        due=moment(due_at, deployment.tz), supervisor=supervisor.name
    )
    detail = {"deadline": deadline, "due_at": due_at.isoformat(), "supervisor": supervisor.id}
    CLUES.record(conn, clue_id, "escalate", status, status, ACTOR, now, note, detail)
    return Escalation(clue_id, clue.department, supervisor.id, deadline, due_at)


def escalate_overdue(db: Database, deployment: Deployment, now: datetime, *, limit: int = 1000) -> Chased:
    """Remind every department of the clues overdue at `now` not reminded yet, then escalate
    those overdue for their route's `escalate_after`; each clue in a transaction of its own (the
    audit log's lock is held for one clue, not for the round); at most `limit` of each a round,
    the longest overdue first."""
    done = Chased()
    with db.transaction() as conn:
        due = [int(row[0]) for row in conn.execute(_DUE, {"now": now, "limit": limit})]
    for clue_id in due:
        with db.transaction() as conn:
            reminder = remind(conn, deployment, clue_id, now)
        if reminder is not None:
            done.reminded.append(reminder)
    supervised = [r for r in deployment.routing if r.escalate_to is not None]
    if not supervised:
        return done
    routes = {"routes": [r.id for r in supervised], "after": [r.escalation_delay for r in supervised]}
    with db.transaction() as conn:
        late = [int(row[0]) for row in conn.execute(_LATE, {"now": now, "limit": limit, **routes})]
    for clue_id in late:
        with db.transaction() as conn:
            escalation = escalate(conn, deployment, clue_id, now)
        if escalation is not None:
            done.escalated.append(escalation)
    return done
