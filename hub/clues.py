"""Risk-clue workflow: issued -> claimed -> handled -> fed back -> closed, within deadlines.

Every function that touches a clue takes the caller's `department`: a department sees and
moves only its own clues, and another department's clue is simply not found. The one exception
is reading (`supervising=True`): a department also sees the clues escalated to it for
supervision (督办, hub/escalation.py), without moving them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import args_row

from hub.records import ClueStatus, RiskClue, Verdict
from hub.store.db import Connection, columns_of
from hub.verdicts import restate_records
from hub.workflow import CLUES, RecordNotFound

_COLUMNS = columns_of(RiskClue)
VERDICTS: tuple[Verdict, ...] = ("confirmed", "false_alarm")


class FeedbackInvalid(ValueError):
    """Feedback without a verdict from the list or without text."""


def _visible(supervising: bool) -> str:
    """A department's own clues, or also those escalated to it for supervision."""
    if not supervising:
        return "department = %(department)s"
    return (
        "(department = %(department)s"
        " OR id IN (SELECT clue_id FROM clue_supervisors WHERE department = %(department)s))"
    )


def get_clue(
    conn: Connection, clue_id: int, department: str | None = None, *, supervising: bool = False
) -> RiskClue:
    """The clue, if it exists and (when `department` is given) belongs to that department, or
    with `supervising` was escalated to it."""
    params = {"id": clue_id, "department": department}
    visible = "true" if department is None else _visible(supervising)
    with conn.cursor(row_factory=args_row(RiskClue)) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM risk_clues WHERE id = %(id)s AND {visible}", params
        ).fetchone()
    if row is None:
        raise RecordNotFound(f"no clue {clue_id}")
    return row


def list_clues(
    conn: Connection,
    *,
    department: str | None = None,
    supervising: bool = False,
    status: ClueStatus | None = None,
    overdue_at: datetime | None = None,
    site: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 100,
) -> list[RiskClue]:
    """Newest first; `department` with `supervising` also lists the clues escalated to it;
    `overdue_at` keeps only the clues with a deadline passed at that moment.

    `before` (issued_at, id) continues after the last clue of a previous page.
    """
    conditions = ["true"]
    params: dict[str, object] = {"limit": limit, "department": department}
    if department is not None:
        conditions.append(_visible(supervising))
    for column, value in (("status", status), ("site", site)):
        if value is not None:
            conditions.append(f"{column} = %({column})s")
            params[column] = value
    if overdue_at is not None:
        conditions.append(
            "((status = 'issued' AND claim_deadline < %(now)s)"
            " OR (status IN ('issued', 'claimed', 'handled') AND feedback_deadline < %(now)s))"
        )
        params["now"] = overdue_at
    if before is not None:
        conditions.append("(issued_at, id) < (%(b_time)s, %(b_id)s)")
        params["b_time"], params["b_id"] = before
    with conn.cursor(row_factory=args_row(RiskClue)) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM risk_clues WHERE {' AND '.join(conditions)}"
            " ORDER BY issued_at DESC, id DESC LIMIT %(limit)s",
            params,
        )
        return cur.fetchall()


def _move(
    conn: Connection,
    clue_id: int,
    action: str,
    actor: str,
    at: datetime,
    department: str | None,
    note: str = "",
    sets: dict[str, Any] | None = None,
) -> RiskClue:
    get_clue(conn, clue_id, department)  # not found for another department, before any lock
    status = CLUES.lock(conn, clue_id)
    target = CLUES.target(clue_id, status, action)
    changes = {"status": target, "updated_at": at, **(sets or {})}
    assignments = ", ".join(f"{column} = %({column})s" for column in changes)
    conn.execute(f"UPDATE risk_clues SET {assignments} WHERE id = %(id)s", {**changes, "id": clue_id})
    detail = {k: v for k, v in (sets or {}).items() if k in ("verdict", "feedback", "feedback_evidence")}
    CLUES.record(conn, clue_id, action, status, target, actor, at, note, detail)
    return get_clue(conn, clue_id)


def claim(
    conn: Connection, clue_id: int, actor: str, at: datetime, *, department: str | None = None
) -> RiskClue:
    """The department takes the clue on (认领)."""
    return _move(conn, clue_id, "claim", actor, at, department, sets={"claimed_at": at})


def handle(
    conn: Connection,
    clue_id: int,
    actor: str,
    at: datetime,
    note: str = "",
    *,
    department: str | None = None,
) -> RiskClue:
    """The department has dealt with it on site (处办)."""
    return _move(conn, clue_id, "handle", actor, at, department, note)


def feed_back(
    conn: Connection,
    clue_id: int,
    actor: str,
    at: datetime,
    verdict: str,
    text: str,
    evidence: list[str] | None = None,
    *,
    department: str | None = None,
) -> RiskClue:
    """The department reports back (反馈): the finding was confirmed or a false alarm."""
    if verdict not in VERDICTS:
        raise FeedbackInvalid(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
    if not text.strip():
        raise FeedbackInvalid("feedback text is empty: say what was found and done")
    sets = {"fed_back_at": at, "verdict": verdict, "feedback": text, "feedback_evidence": evidence or []}
    clue = _move(conn, clue_id, "feed_back", actor, at, department, sets=sets)
    restate_records(conn, clue.alert_id, at)  # a false alarm is withdrawn from the exchange's record
    return clue


def close(conn: Connection, clue_id: int, actor: str, at: datetime, note: str = "") -> RiskClue:
    """The supervising side accepts the feedback and closes the clue."""
    return _move(conn, clue_id, "close", actor, at, None, note, sets={"closed_at": at})


def reopen(conn: Connection, clue_id: int, actor: str, at: datetime, note: str) -> RiskClue:
    """The feedback is not accepted: the clue goes back to the department to be handled again."""
    sets: dict[str, Any] = {"fed_back_at": None, "verdict": None, "feedback": None, "feedback_evidence": []}
    clue = _move(conn, clue_id, "reopen", actor, at, None, note, sets=sets)
    restate_records(conn, clue.alert_id, at)  # a verdict taken back no longer speaks for the record
    return clue


def clues_of_alert(conn: Connection, alert_id: int, department: str | None = None) -> list[RiskClue]:
    """The clues an alert produced, oldest first; with `department`, only that department's."""
    with conn.cursor(row_factory=args_row(RiskClue)) as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM risk_clues WHERE alert_id = %s"
            " AND (%s::text IS NULL OR department = %s) ORDER BY issued_at, id",
            (alert_id, department, department),
        )
        return cur.fetchall()
