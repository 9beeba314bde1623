"""What a read may cover: the sites a department's clues come from, and a time range asked for in
a query (checked, with defaults), for the routes that read devices over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.errors import unprocessable
from hub.events import EARLIEST
from hub.store.db import Connection

LATEST = datetime(9999, 12, 30, tzinfo=UTC)  # a day short of Python's last, so any offset fits


def visible_sites(conn: Connection, department: str | None) -> set[str] | None:
    """The sites whose devices `department` may see (those its clues come from); None: all."""
    if department is None:
        return None
    rows = conn.execute("SELECT DISTINCT site FROM risk_clues WHERE department = %s", (department,))
    return {str(site) for (site,) in rows.fetchall()}


def time_range(
    start: datetime | None, end: datetime | None, now: datetime, default: timedelta, widest: timedelta
) -> tuple[datetime, datetime]:
    """[start, end) from a query's `start` and `end` (end defaults to now, start to `default`
    before end), or a 422 naming the parameter: out of range, backwards, wider than `widest`."""
    end = _within(end, "end") if end is not None else now
    start = _within(start, "start") if start is not None else end - default
    if start >= end:
        raise unprocessable(
            ["query", "start"], f"start ({start.isoformat()}) must be before end ({end.isoformat()})"
        )
    if end - start > widest:
        raise unprocessable(["query", "start"], f"a range spans at most {widest.days} days")
    return start, end


def _within(moment: datetime, field: str) -> datetime:
    if not EARLIEST <= moment <= LATEST:
        raise unprocessable(
            ["query", field],
            f"{moment.isoformat()} is out of range ({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})",
        )
    return moment
