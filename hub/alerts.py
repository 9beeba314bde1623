"""Alert lifecycle: open -> acknowledged -> closed, or dismissed as a false alarm."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import get_args

from psycopg import sql
from psycopg.rows import args_row

from hub.records import Alert, AlertStatus
from hub.store.db import Connection, columns_of
from hub.verdicts import restate_records
from hub.workflow import ALERTS, RecordNotFound

ACTIVE: tuple[AlertStatus, ...] = ("open", "acknowledged")
STATUSES: tuple[AlertStatus, ...] = get_args(AlertStatus)
_COLUMNS = columns_of(Alert)


def get_alert(conn: Connection, alert_id: int, department: str | None = None) -> Alert:
    """The alert; with `department`, only if a clue of that department rests on it."""
    with conn.cursor(row_factory=args_row(Alert)) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE id = %s AND (%s::text IS NULL OR EXISTS"
            " (SELECT 1 FROM risk_clues c WHERE c.alert_id = alerts.id AND c.department = %s))",
            (alert_id, department, department),
        ).fetchone()
    if row is None:
        raise RecordNotFound(f"no alert {alert_id}")
    return row


@dataclass(frozen=True)
class AlertFilter:
    """Conditions of an alert list; None means any. `since`/`until` bound `first_seen`."""

    site: str | None = None
    source: str | None = None
    rule: str | None = None
    severity: str | None = None
    status: AlertStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    department: str | None = None  # only alerts behind a clue routed to this department


def _conditions(where: AlertFilter, params: dict[str, object]) -> list[sql.Composable]:
    """The WHERE terms of `where`, filling `params`: equalities and a range of first_seen, which
    the (column, first_seen) indexes of migration 0003 serve."""
    conditions: list[sql.Composable] = []
    for column in ("site", "source", "rule", "severity", "status"):
        value = getattr(where, column)
        if value is not None:
            conditions.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
            params[column] = value
    if where.since is not None:
        conditions.append(sql.SQL("first_seen >= %(since)s"))
        params["since"] = where.since
    if where.until is not None:
        conditions.append(sql.SQL("first_seen < %(until)s"))
        params["until"] = where.until
    if where.department is not None:
        conditions.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM risk_clues c WHERE c.alert_id = alerts.id AND c.department = %(dept)s)"
            )
        )
        params["dept"] = where.department
    return conditions


def count_by_status(conn: Connection, where: AlertFilter) -> dict[AlertStatus, int]:
    """How many alerts match `where` in each state (its own `status` is not applied)."""
    params: dict[str, object] = {}
    conditions = _conditions(replace(where, status=None), params)
    query = sql.SQL("SELECT status, count(*) FROM alerts WHERE {} GROUP BY status").format(
        sql.SQL(" AND ").join(conditions or [sql.SQL("true")])
    )
    counts: dict[AlertStatus, int] = dict.fromkeys(STATUSES, 0)
    for status, n in conn.execute(query, params).fetchall():
        counts[status] = int(n)
    return counts


def list_alerts(
    conn: Connection,
    *,
    status: AlertStatus | None = None,
    where: AlertFilter | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Newest first (by first seen, then id); `before` continues after the last row of a page."""
    where = where or AlertFilter(status=status)
    params: dict[str, object] = {"limit": limit}
    conditions = _conditions(where, params)
    if before is not None:
        conditions.append(sql.SQL("(first_seen, id) < (%(b_time)s, %(b_id)s)"))
        params["b_time"], params["b_id"] = before
    query = sql.SQL(
        "SELECT {} FROM alerts WHERE {} ORDER BY first_seen DESC, id DESC LIMIT %(limit)s"
    ).format(sql.SQL(_COLUMNS), sql.SQL(" AND ").join(conditions or [sql.SQL("true")]))
    with conn.cursor(row_factory=args_row(Alert)) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def transition_alert(
    conn: Connection, alert_id: int, action: str, actor: str, at: datetime, note: str = ""
) -> Alert:
    """Apply `action` (acknowledge, close, dismiss) or raise IllegalTransition."""
    status = ALERTS.lock(conn, alert_id)
    target = ALERTS.target(alert_id, status, action)
    conn.execute(
        "UPDATE alerts SET status = %s, updated_at = %s,"
        " ended_at = CASE WHEN %s IN ('closed', 'dismissed') THEN %s ELSE ended_at END WHERE id = %s",
        (target, at, target, at, alert_id),
    )
    ALERTS.record(conn, alert_id, action, status, target, actor, at, note)
    return get_alert(conn, alert_id)


def acknowledge(conn: Connection, alert_id: int, actor: str, at: datetime, note: str = "") -> Alert:
    return transition_alert(conn, alert_id, "acknowledge", actor, at, note)


def close(conn: Connection, alert_id: int, actor: str, at: datetime, note: str = "") -> Alert:
    return transition_alert(conn, alert_id, "close", actor, at, note)


def dismiss(conn: Connection, alert_id: int, actor: str, at: datetime, note: str = "") -> Alert:
    """Mark the alert a false alarm; the record of its finding says so to the exchange."""
    alert = transition_alert(conn, alert_id, "dismiss", actor, at, note)
    restate_records(conn, alert_id, at)
    return alert
