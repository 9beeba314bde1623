"""Figures for departments and the duty platform: how risk clues were answered, alerts per site and
rule, supervision-action records per item, over a period of local days.

Computed in SQL over the records themselves, so that they agree with what the lists show. A clue
counts in the period and bucket of the day it was issued (a cohort); whether it is overdue or
still open is judged at `now`. Buckets are days, ISO weeks (from Monday) or months in the
deployment's time zone, named by their first day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from psycopg.rows import args_row

from hub.config import Deployment
from hub.store.db import Connection

Bucket = Literal["day", "week", "month"]
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366  # a longer period is a question for the exchange's data warehouse, not the hub


class PeriodInvalid(ValueError):
    """A period that ends before it starts, or one too long; says which and what is expected."""


class UnknownDepartment(LookupError):
    """A department that the deployment does not name; lists the ones it does."""


@dataclass(frozen=True)
class Period:
    """Local days from `first` to `last`, both included, in buckets of `bucket`."""

    first: date
    last: date
    bucket: Bucket = "day"

    @classmethod
    def ending(
        cls, today: date, first: date | None = None, last: date | None = None, bucket: Bucket = "day"
    ) -> Period:
        """The period asked for; without `last` it ends `today`, without `first` it spans
        DEFAULT_DAYS days up to `last`. PeriodInvalid when it is backwards or over MAX_DAYS."""
        last = last or today
        first = first or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise PeriodInvalid(f"from ({first}) is after to ({last}): give from on or before to")
        if (last - first).days + 1 > MAX_DAYS:
            raise PeriodInvalid(f"{first} to {last} is over {MAX_DAYS} days: ask for a shorter period")
        return cls(first, last, bucket)

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The first instant of `first` and the first instant after `last`, in `tz`."""
        return (
            datetime.combine(self.first, time(), tz),
            datetime.combine(self.last + timedelta(days=1), time(), tz),
        )


@dataclass(frozen=True)
class ClueFigures:
    """How one department answered the clues issued to it in one bucket (`bucket` None: the
    whole period). Times are seconds from issue; None when no clue got that far."""

    department: str
    bucket: date | None
    received: int
    claimed_in_time: int
    answered_in_time: int  # feedback (反馈) by the feedback deadline
    overdue: int  # claimed or answered after its deadline, or not yet and past it at `as_of`
    escalated: int  # escalated (督办) to a supervising department at least once
    open: int  # not answered yet: issued, claimed or handled
    claim_p50: float | None
    claim_p90: float | None
    answer_p50: float | None
    answer_p90: float | None


@dataclass(frozen=True)
class AlertCount:
    """Alerts that began in the period, per site and rule, and how many operators dismissed."""

    site: str
    rule: str
    alerts: int
    dismissed: int


@dataclass(frozen=True)
class RecordCount:
    """Supervision-action records of the period per supervision item (deleted ones left out)."""

    item_code: str
    item_name: str
    records: int
    problem_found: int


@dataclass(frozen=True)
class Statistics:
    """The figures of one period, for every department or for `department` only."""

    first: date
    last: date
    bucket: Bucket
    timezone: str
    department: str | None
    as_of: datetime
    clues: list[ClueFigures]
    alerts: list[AlertCount]
    records: list[RecordCount]


# One row per (department, bucket) and one per department for the whole period (bucket NULL).
_CLUES = """
WITH c AS (
    SELECT c.department,
           (date_trunc(%(bucket)s, c.issued_at, %(tz)s) AT TIME ZONE %(tz)s)::date AS bucket,
           extract(epoch FROM c.claimed_at - c.issued_at)::float8 AS to_claim,
           extract(epoch FROM c.fed_back_at - c.issued_at)::float8 AS to_answer,
           c.claimed_at <= c.claim_deadline AS claimed_in_time,
           c.fed_back_at <= c.feedback_deadline AS answered_in_time,
           coalesce(c.claimed_at, %(now)s) > c.claim_deadline
               OR coalesce(c.fed_back_at, %(now)s) > c.feedback_deadline AS overdue,
           EXISTS (SELECT 1 FROM clue_supervisors e WHERE e.clue_id = c.id) AS escalated,
           c.status IN ('issued', 'claimed', 'handled') AS open
    FROM risk_clues c
    WHERE c.issued_at >= %(start)s AND c.issued_at < %(end)s
      AND (%(department)s::text IS NULL OR c.department = %(department)s)
)
SELECT department, bucket, count(*)::int,
       count(*) FILTER (WHERE claimed_in_time)::int, count(*) FILTER (WHERE answered_in_time)::int,
       count(*) FILTER (WHERE overdue)::int, count(*) FILTER (WHERE escalated)::int,
       count(*) FILTER (WHERE open)::int,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_claim),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_claim),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY to_answer),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY to_answer)
FROM c
GROUP BY GROUPING SETS ((department, bucket), (department))
ORDER BY department, bucket NULLS LAST
"""

# A department's alerts are those that gave it a clue.
_ALERTS = """
SELECT a.site, a.rule, count(*)::int, count(*) FILTER (WHERE a.status = 'dismissed')::int
FROM alerts a
WHERE a.first_seen >= %(start)s AND a.first_seen < %(end)s
  AND (%(department)s::text IS NULL
       OR EXISTS (SELECT 1 FROM risk_clues c WHERE c.alert_id = a.id AND c.department = %(department)s))
GROUP BY a.site, a.rule
ORDER BY count(*) DESC, a.site, a.rule
"""

_RECORDS = """
SELECT item_code, max(item_name), count(*)::int, count(*) FILTER (WHERE result = 'problem_found')::int
FROM supervision_actions
WHERE inspected_at >= %(start)s AND inspected_at < %(end)s AND operation <> 'D'
  AND (%(code)s::text IS NULL OR department_code = %(code)s)
GROUP BY item_code
ORDER BY item_code
"""


def statistics(
    conn: Connection, deployment: Deployment, period: Period, now: datetime, department: str | None = None
) -> Statistics:
    """The figures of `period`; with `department` (an id of the deployment's), only its own."""
    code = None
    if department is not None:
        known = deployment.department_by_id.get(department)
        if known is None:
            names = ", ".join(sorted(deployment.department_by_id)) or "none"
            raise UnknownDepartment(f"no department {department!r} in the deployment; it has: {names}")
        code = known.code
    start, end = period.bounds(deployment.tz)
    params = {
        "start": start,
        "end": end,
        "now": now,
        "tz": deployment.timezone,
        "bucket": period.bucket,
        "department": department,
        "code": code,
    }
    with conn.cursor(row_factory=args_row(ClueFigures)) as cur:
        clues = cur.execute(_CLUES, params).fetchall()
    with conn.cursor(row_factory=args_row(AlertCount)) as cur:
        alerts = cur.execute(_ALERTS, params).fetchall()
    with conn.cursor(row_factory=args_row(RecordCount)) as cur:
        records = cur.execute(_RECORDS, params).fetchall()
    return Statistics(
        period.first, period.last, period.bucket, deployment.timezone, department, now, clues, alerts, records
    )
