"""1-minute and 1-hour rollups of sensor readings, maintained by the hub on every backend.

Continuous aggregates exist only in TimescaleDB's full edition; refreshing plain tables here
gives dashboards the same numbers on plain PostgreSQL, the Apache edition and the full one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hub.store.db import Connection

_ORIGIN = "2000-01-01 00:00:00+00"


def _floor(moment: datetime, step: timedelta) -> datetime:
    origin = datetime.fromisoformat(_ORIGIN)
    return origin + ((moment - origin) // step) * step


def refresh_rollups(conn: Connection, start: datetime, end: datetime) -> tuple[int, int]:
    """Recompute the rollup buckets overlapping [start, end). Returns rows written (1m, 1h).

    Buckets are recomputed whole from the rows beneath them, so late readings inside the
    window are counted, and running a refresh twice changes nothing.
    """
    # Minutes from the start of the hour, so that the hour above them is rebuilt from whole data.
    h_start = _floor(start, timedelta(hours=1))
    minutes = conn.execute(
        """INSERT INTO readings_1m (time, sensor, metric, count, sum, min, max)
           SELECT date_bin('1 minute', time, %(origin)s), sensor, metric,
                  count(*), sum(value), min(value), max(value)
           FROM readings WHERE time >= %(start)s AND time < %(end)s
           GROUP BY 1, 2, 3
           ON CONFLICT (sensor, metric, time) DO UPDATE SET
               count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max""",
        {"origin": _ORIGIN, "start": h_start, "end": end},
    ).rowcount
    hours = conn.execute(
        """INSERT INTO readings_1h (time, sensor, metric, count, sum, min, max)
           SELECT date_bin('1 hour', time, %(origin)s), sensor, metric,
                  sum(count), sum(sum), min(min), max(max)
           FROM readings_1m WHERE time >= %(start)s AND time < %(end)s
           GROUP BY 1, 2, 3
           ON CONFLICT (sensor, metric, time) DO UPDATE SET
               count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max""",
        {"origin": _ORIGIN, "start": h_start, "end": end},
    ).rowcount
    return minutes, hours
