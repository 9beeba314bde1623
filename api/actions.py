"""Queries over supervision-action records (监管行为): filtered pages and time-range exports."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import args_row

from hub.records import SupervisionAction
from hub.store.db import Connection, columns_of

COLUMNS = columns_of(SupervisionAction)


@dataclass(frozen=True)
class ActionFilter:
    """Conditions of a record list; None means any. `since`/`until` bound `inspected_at`."""

    item_code: str | None = None
    department_code: str | None = None
    site: str | None = None
    result: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def sql(self) -> tuple[str, dict[str, object]]:
        conditions = ["true"]
        params: dict[str, object] = {}
        for column in ("item_code", "department_code", "site", "result"):
            value = getattr(self, column)
            if value is not None:
                conditions.append(f"{column} = %({column})s")
                params[column] = value
        if self.since is not None:
            conditions.append("inspected_at >= %(since)s")
            params["since"] = self.since
        if self.until is not None:
            conditions.append("inspected_at < %(until)s")
            params["until"] = self.until
        return " AND ".join(conditions), params


def list_actions(
    conn: Connection, where: ActionFilter, before: tuple[datetime, int] | None, limit: int
) -> list[SupervisionAction]:
    """Newest first; `before` (inspected_at, id) continues after a previous page."""
    condition, params = where.sql()
    if before is not None:
        condition += " AND (inspected_at, id) < (%(b_time)s, %(b_id)s)"
        params["b_time"], params["b_id"] = before
    with conn.cursor(row_factory=args_row(SupervisionAction)) as cur:
        cur.execute(
            f"SELECT {COLUMNS} FROM supervision_actions WHERE {condition}"
            " ORDER BY inspected_at DESC, id DESC LIMIT %(limit)s",
            {**params, "limit": limit},
        )
        return cur.fetchall()


def export_actions(conn: Connection, where: ActionFilter) -> Iterator[SupervisionAction]:
    """Every matching record, oldest first, read in batches through a server-side cursor."""
    condition, params = where.sql()
    with conn.cursor(name="export_actions", row_factory=args_row(SupervisionAction)) as cur:
        cur.itersize = 1000
        cur.execute(
            f"SELECT {COLUMNS} FROM supervision_actions WHERE {condition} ORDER BY inspected_at, id", params
        )
        yield from cur


def actions_of_alert(conn: Connection, alert_id: int) -> list[SupervisionAction]:
    """The records of an alert's findings, oldest first."""
    with conn.cursor(row_factory=args_row(SupervisionAction)) as cur:
        cur.execute(
            f"SELECT {COLUMNS} FROM supervision_actions WHERE alert_id = %s ORDER BY inspected_at, id",
            (alert_id,),
        )
        return cur.fetchall()
