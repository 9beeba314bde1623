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
_HOUR_END = timedelta(minutes=59, seconds=59, microseconds=999999)
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
    """Alerts that began in the period, per site and rule, and how many were false alarms:
    dismissed by an operator or fed back as `false_alarm` by a department (each alert once)."""

    site: str
    rule: str
    alerts: int
    dismissed: int
    false_alarms: int
    false_share: float  # false_alarms / alerts


@dataclass(frozen=True)
class SourceCount:
    """Alerts per camera or sensor (`camera:ID`, `sensor:ID`...), false alarms as in AlertCount."""

    source: str
    site: str
    alerts: int
    dismissed: int
    false_alarms: int
    false_share: float


@dataclass(frozen=True)
class ModelCount:
    """Alerts per rule and the model version their first event names (payload `model`); only
    alerts whose events name one."""

    rule: str
    model: str
    alerts: int
    false_alarms: int
    false_share: float


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
    sources: list[SourceCount]
    models: list[ModelCount]
    records: list[RecordCount]


# The rolled-up spans of the period: whole months as months, the days around them as days.
_SPANS = "((span = 'month' AND start = ANY(%(months)s)) OR (span = 'day' AND start = ANY(%(days)s)))"
_CLUE_SPANS = _SPANS.replace("(months)", "(clue_months)").replace("(days)", "(clue_days)")
_SHARE = "coalesce(round(sum(false_alarms)::numeric / nullif(sum(alerts), 0), 4), 0)::float8"

# One row per (department, bucket) and one per department for the whole period (bucket NULL).
# Answered clues come from the rollups (their figures no longer change; the seconds to claim and
# to answer kept as arrays for the percentiles), the others straight from risk_clues, judged at now.
# Each group's seconds are gathered into one array and sorted on their own, as numbers (the
# rollups keep them sorted, which the sort finds quicker).
_CLUES = f"""
WITH answered AS (
    SELECT department, date_trunc(%(bucket)s, start::timestamp)::date AS bucket, received,
           claimed_in_time, answered_in_time, overdue, escalated, 0 AS open, to_claim, to_answer
    FROM clue_rollups WHERE {_CLUE_SPANS} AND (%(department)s::text IS NULL OR department = %(department)s)
), unanswered AS (
    SELECT c.department, (date_trunc(%(bucket)s, c.issued_at, %(tz)s) AT TIME ZONE %(tz)s)::date AS bucket,
           count(*), count(*) FILTER (WHERE c.claimed_at <= c.claim_deadline), 0,
           count(*) FILTER (WHERE coalesce(c.claimed_at, %(now)s) > c.claim_deadline
                                  OR %(now)s > c.feedback_deadline),
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM clue_supervisors e WHERE e.clue_id = c.id)),
           count(*) FILTER (WHERE c.status IN ('issued', 'claimed', 'handled')),
           array_agg(extract(epoch FROM c.claimed_at - c.issued_at)::float8), '{{}}'::float8[]
    FROM risk_clues c
    WHERE c.fed_back_at IS NULL AND c.issued_at >= %(start)s AND c.issued_at < %(end)s
      AND (%(department)s::text IS NULL OR c.department = %(department)s)
    GROUP BY 1, 2
), groups AS (
    SELECT department, bucket, sum(received)::int AS received, sum(claimed_in_time)::int AS claimed,
           sum(answered_in_time)::int AS answered, sum(overdue)::int AS overdue,
           sum(escalated)::int AS escalated, sum(open)::int AS open,
           statistics_concat(to_claim) AS to_claim, statistics_concat(to_answer) AS to_answer
    FROM (SELECT * FROM answered UNION ALL SELECT * FROM unanswered) c
    GROUP BY GROUPING SETS ((department, bucket), (department))
)
SELECT department, bucket, received, claimed, answered, overdue, escalated, open,
       claim.p50, claim.p90, answer.p50, answer.p90
FROM groups,
     LATERAL (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS p50,
                     percentile_cont(0.9) WITHIN GROUP (ORDER BY v) AS p90 FROM unnest(to_claim) v) claim,
     LATERAL (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS p50,
                     percentile_cont(0.9) WITHIN GROUP (ORDER BY v) AS p90 FROM unnest(to_answer) v) answer
ORDER BY department, bucket NULLS LAST
"""


# A department's alerts are those that gave it a clue (the first clue, where several did). One
# pass over the rollups for the three groupings: per site and rule, per source, per rule and model.
_ALERTS = f"""
SELECT grouping(site, rule, source, model), site, rule, source, model, sum(alerts)::int,
       sum(dismissed)::int, sum(false_alarms)::int, {_SHARE}
FROM alert_rollups WHERE {_SPANS} AND (%(department)s::text IS NULL OR department = %(department)s)
GROUP BY GROUPING SETS ((site, rule), (source, site), (rule, model))
"""
# grouping() of each set: a bit per column left out, in the order site, rule, source, model.
_BY_RULE, _BY_SOURCE, _BY_MODEL = 0b0011, 0b0101, 0b1010
_RECORDS = f"""
SELECT item_code, max(item_name), sum(records)::int, sum(problem_found)::int
FROM record_rollups WHERE {_SPANS} AND (%(code)s::text IS NULL OR department_code = %(code)s)
GROUP BY item_code ORDER BY item_code
"""

# One local day of each kind, recomputed from the rows beneath it.
_DAY = {
    "alert": """
INSERT INTO alert_rollups
    (span, start, department, site, rule, source, model, alerts, dismissed, false_alarms)
SELECT 'day', %(day)s, coalesce(c.department, ''), a.site, a.rule, a.source,
       coalesce(e.payload->>'model', ''), count(*), count(*) FILTER (WHERE a.status = 'dismissed'),
       count(*) FILTER (WHERE a.status = 'dismissed' OR c.false_alarm)
FROM alerts a
JOIN events e ON e.id = a.first_event
LEFT JOIN LATERAL (SELECT min(department) AS department, bool_or(verdict = 'false_alarm') AS false_alarm
                   FROM risk_clues WHERE alert_id = a.id) c ON true
WHERE a.first_seen >= %(start)s AND a.first_seen < %(end)s
GROUP BY 3, 4, 5, 6, 7
""",
    "record": """
INSERT INTO record_rollups (span, start, department_code, item_code, item_name, records, problem_found)
SELECT 'day', %(day)s, department_code, item_code, max(item_name), count(*),
       count(*) FILTER (WHERE result = 'problem_found')
FROM supervision_actions
WHERE inspected_at >= %(start)s AND inspected_at < %(end)s AND operation <> 'D'
GROUP BY department_code, item_code
""",
    "clue": """
INSERT INTO clue_rollups (span, start, department, received, claimed_in_time, answered_in_time, overdue,
                          escalated, to_claim, to_answer)
SELECT 'day', %(day)s, c.department, count(*), count(*) FILTER (WHERE c.claimed_at <= c.claim_deadline),
       count(*) FILTER (WHERE c.fed_back_at <= c.feedback_deadline),
       count(*) FILTER (WHERE c.claimed_at > c.claim_deadline OR c.fed_back_at > c.feedback_deadline),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM clue_supervisors e WHERE e.clue_id = c.id)),
       array_agg(t.to_claim ORDER BY t.to_claim), array_agg(t.to_answer ORDER BY t.to_answer)
FROM risk_clues c,
     LATERAL (SELECT extract(epoch FROM c.claimed_at - c.issued_at)::float8 AS to_claim,
                     extract(epoch FROM c.fed_back_at - c.issued_at)::float8 AS to_answer) t
WHERE c.fed_back_at IS NOT NULL AND c.issued_at >= %(start)s AND c.issued_at < %(end)s
GROUP BY c.department
""",
}
# A month of each kind, summed from its days.
_MONTH = {
    "alert": """
INSERT INTO alert_rollups
    (span, start, department, site, rule, source, model, alerts, dismissed, false_alarms)
SELECT 'month', %(month)s, department, site, rule, source, model,
       sum(alerts), sum(dismissed), sum(false_alarms)
FROM alert_rollups WHERE span = 'day' AND start >= %(month)s AND start < %(next)s
GROUP BY department, site, rule, source, model
""",
    "record": """
INSERT INTO record_rollups (span, start, department_code, item_code, item_name, records, problem_found)
SELECT 'month', %(month)s, department_code, item_code, max(item_name), sum(records), sum(problem_found)
FROM record_rollups WHERE span = 'day' AND start >= %(month)s AND start < %(next)s
GROUP BY department_code, item_code
""",
    "clue": """
INSERT INTO clue_rollups (span, start, department, received, claimed_in_time, answered_in_time, overdue,
                          escalated, to_claim, to_answer)
SELECT 'month', %(month)s, n.*, t.to_claim, t.to_answer
FROM (SELECT department, sum(received), sum(claimed_in_time), sum(answered_in_time), sum(overdue),
             sum(escalated)
      FROM clue_rollups WHERE span = 'day' AND start >= %(month)s AND start < %(next)s
      GROUP BY department) n
JOIN (SELECT r.department, array_agg(u.to_claim ORDER BY u.to_claim) AS to_claim,
             array_agg(u.to_answer ORDER BY u.to_answer) AS to_answer
      FROM clue_rollups r, unnest(r.to_claim, r.to_answer) AS u (to_claim, to_answer)
      WHERE r.span = 'day' AND r.start >= %(month)s AND r.start < %(next)s
      GROUP BY r.department) t USING (department)
""",
}
_TABLE = {"alert": "alert_rollups", "record": "record_rollups", "clue": "clue_rollups"}
_EVERY_HOUR = """
INSERT INTO statistics_dirty (kind, hour)
SELECT DISTINCT 'alert', date_trunc('hour', first_seen) FROM alerts
UNION ALL SELECT DISTINCT 'record', date_trunc('hour', inspected_at) FROM supervision_actions
UNION ALL SELECT DISTINCT 'clue', date_trunc('hour', issued_at) FROM risk_clues
"""
_LOCK = 0x0FF5_57A7  # advisory lock: one refresh at a time


def _month(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def refresh(conn: Connection, tz: ZoneInfo) -> int:
    """Bring the rollups up to date with every change committed so far, in the caller's
    transaction: the local days (in `tz`) of the hours the triggers noted, then their months.
    Rebuilds everything when the rollups were made in another zone (or never). How many days
    were recomputed."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    rebuilt = False
    zone = conn.execute("SELECT timezone FROM statistics_zone").fetchone()
    if zone is None or zone[0] != tz.key:
        for table in (*_TABLE.values(), "statistics_dirty"):
            conn.execute(f"DELETE FROM {table}")
        conn.execute(_EVERY_HOUR)
        rebuilt = True
        conn.execute(
            "INSERT INTO statistics_zone (timezone) VALUES (%s)"
            " ON CONFLICT (one) DO UPDATE SET timezone = EXCLUDED.timezone",
            (tz.key,),
        )
    # Only the rows this transaction sees: a change committed later leaves its own for next time.
    noted = conn.execute("DELETE FROM statistics_dirty RETURNING kind, hour").fetchall()
    days: dict[str, set[date]] = {kind: set() for kind in _TABLE}
    for kind, hour in noted:  # an hour lies in two local days where the offset is not whole hours
        days[kind] |= {hour.astimezone(tz).date(), (hour + _HOUR_END).astimezone(tz).date()}
    for kind, touched in days.items():
        table = _TABLE[kind]
        for day in sorted(touched):
            start, end = Period(day, day).bounds(tz)
            conn.execute(f"DELETE FROM {table} WHERE span = 'day' AND start = %s", (day,))
            conn.execute(_DAY[kind], {"day": day, "start": start, "end": end})
        for month in sorted({_month(day) for day in touched}):
            conn.execute(f"DELETE FROM {table} WHERE span = 'month' AND start = %s", (month,))
            conn.execute(_MONTH[kind], {"month": month, "next": _next_month(month)})
    if rebuilt:  # the planner's figures of the tables, for the first reads after it
        conn.execute(f"ANALYZE {', '.join(_TABLE.values())}")
    return sum(len(touched) for touched in days.values())


def _spans(period: Period, whole_months: bool = True) -> tuple[list[date], list[date]]:
    """The whole months of the period (with `whole_months`), and its days outside them."""
    months, days = [], []
    day = period.first
    while day <= period.last:
        month_end = _next_month(_month(day))
        if whole_months and day.day == 1 and month_end - timedelta(days=1) <= period.last:
            months.append(day)
            day = month_end
        else:
            days.append(day)
            day += timedelta(days=1)
    return months, days


def statistics(
    conn: Connection, deployment: Deployment, period: Period, now: datetime, department: str | None = None
) -> Statistics:
    """The figures of `period`; with `department` (an id of the deployment's), only its own.
    Brings the rollups up to date first (`refresh`), in the caller's transaction."""
    code = None
    if department is not None:
        known = deployment.department_by_id.get(department)
        if known is None:
            names = ", ".join(sorted(deployment.department_by_id)) or "none"
            raise UnknownDepartment(f"no department {department!r} in the deployment; it has: {names}")
        code = known.code
    refresh(conn, deployment.tz)
    # A year's seconds to claim and to answer (100,000 clues) sort in memory, not on disk.
    conn.execute("SET LOCAL work_mem = '64MB'")
    start, end = period.bounds(deployment.tz)
    months, days = _spans(period)
    clue_months, clue_days = _spans(period, period.bucket == "month")  # a month is no day or week
    params = {
        "start": start,
        "end": end,
        "now": now,
        "tz": deployment.timezone,
        "bucket": period.bucket,
        "department": department,
        "code": code,
        "months": months,
        "days": days,
        "clue_months": clue_months,
        "clue_days": clue_days,
    }
    with conn.cursor(row_factory=args_row(ClueFigures)) as cur:
        clues = cur.execute(_CLUES, params).fetchall()
    alerts, sources, models = [], [], []
    for group, site, rule, source, model, n, dismissed, false, share in conn.execute(_ALERTS, params):
        if group == _BY_RULE:
            alerts.append(AlertCount(site, rule, n, dismissed, false, share))
        elif group == _BY_SOURCE:
            sources.append(SourceCount(source, site, n, dismissed, false, share))
        elif group == _BY_MODEL and model:  # '': the events named none
            models.append(ModelCount(rule, model, n, false, share))
    alerts.sort(key=lambda a: (-a.alerts, a.site, a.rule))
    sources.sort(key=lambda x: (-x.alerts, x.source))
    models.sort(key=lambda m: (m.rule, m.model))
    with conn.cursor(row_factory=args_row(RecordCount)) as cur:
        records = cur.execute(_RECORDS, params).fetchall()
    return Statistics(
        period.first,
        period.last,
        period.bucket,
        deployment.timezone,
        department,
        now,
        clues,
        alerts,
        sources,
        models,
        records,
    )
