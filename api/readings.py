"""Sensor curves from the rollups: the 1-minute or 1-hour buckets of a sensor's metric over a range.

The hub refreshes the rollups in its upkeep round, so the newest buckets may be missing or still
partial; they are computed from the rows beneath them instead (raw readings under the 1-minute
rollup; under the hourly one, the 1-minute buckets and the raw readings after the newest of them),
so a curve reaches up to the last reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from psycopg import sql

from hub.store.db import Connection

Resolution = Literal["1m", "1h"]
_ORIGIN = "2000-01-01 00:00:00+00"  # hub.store.rollups bins from the same origin
_RAW = "SELECT time, 1, value, value, value FROM readings WHERE {key} AND time >= {since} AND time < %(end)s"
# Per resolution: its rollup table, and the rows (time, count, sum, min, max) beneath its newest
# rolled bucket `edge.t`: the raw readings under the minutes; under the hours, the rolled minutes
# up to the newest one and the raw readings from there (the minutes may lag as well).
_KEY = "sensor = %(sensor)s AND metric = %(metric)s"
_LEVELS: dict[Resolution, tuple[str, str]] = {
    "1m": ("readings_1m", _RAW.format(key=_KEY, since="(SELECT t FROM edge)")),
    "1h": (
        "readings_1h",
        f"""SELECT time, count, sum, min, max FROM readings_1m
            WHERE {_KEY} AND time >= (SELECT t FROM edge) AND time < (SELECT t FROM minute)
            UNION ALL {_RAW.format(key=_KEY, since="(SELECT t FROM minute)")}""",
    ),
}
_STEP: dict[Resolution, str] = {"1m": "1 minute", "1h": "1 hour"}
HOURLY_FROM = timedelta(hours=12)  # ranges longer than this are drawn from hourly buckets


@dataclass(frozen=True)
class Bucket:
    """One bucket of a curve: the mean, least and greatest reading in it."""

    time: datetime
    mean: float
    min: float
    max: float


def resolution_for(start: datetime, end: datetime) -> Resolution:
    return "1h" if end - start > HOURLY_FROM else "1m"


def bucket_of(moment: datetime, resolution: Resolution) -> datetime:
    """The start of the bucket holding `moment` (whole minutes and hours of UTC, as rolled up)."""
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment.replace(minute=0) if resolution == "1h" else moment


def buckets(
    conn: Connection, sensor: str, metric: str, start: datetime, end: datetime, resolution: Resolution
) -> list[Bucket]:
    """The buckets of [start, end), oldest first. Rolled-up buckets are taken up to the newest one,
    which is recomputed with everything after it from the rows beneath (it may have been rolled
    while its minute or hour was still filling)."""
    table, beneath = _LEVELS[resolution]
    query = sql.SQL(
        """WITH rolled AS (
               SELECT time, count, sum, min, max FROM {table}
               WHERE sensor = %(sensor)s AND metric = %(metric)s AND time >= %(start)s AND time < %(end)s),
           edge AS (SELECT coalesce(max(time), %(start)s) AS t FROM rolled),
           minute AS (SELECT coalesce(max(time), (SELECT t FROM edge)) AS t FROM readings_1m
                      WHERE sensor = %(sensor)s AND metric = %(metric)s
                        AND time >= (SELECT t FROM edge) AND time < %(end)s),
           beneath (time, c, s, lo, hi) AS ({beneath})
           SELECT time, sum / count, min, max FROM rolled, edge WHERE rolled.time < edge.t
           UNION ALL
           SELECT date_bin({step}::interval, time, %(origin)s), sum(s) / sum(c), min(lo), max(hi)
           FROM beneath GROUP BY 1
           ORDER BY 1"""
    ).format(table=sql.Identifier(table), beneath=sql.SQL(beneath), step=sql.Literal(_STEP[resolution]))
    params = {"sensor": sensor, "metric": metric, "start": start, "end": end, "origin": _ORIGIN}
    rows = conn.execute(query, params).fetchall()
    return [Bucket(row[0], float(row[1]), float(row[2]), float(row[3])) for row in rows]


def raw_readings(
    conn: Connection, sensor: str, metric: str, start: datetime, end: datetime, limit: int
) -> list[tuple[datetime, float]]:
    """The readings of [start, end), oldest first, at most `limit` of them."""
    rows = conn.execute(
        "SELECT time, value FROM readings WHERE sensor = %s AND metric = %s AND time >= %s AND time < %s"
        " ORDER BY time LIMIT %s",
        (sensor, metric, start, end, limit),
    ).fetchall()
    return [(row[0], float(row[1])) for row in rows]
