"""Ingest counters kept in the database: each ingest process adds what its counters grew by since
it last said, so the totals outlive restarts and one /metrics shows those of every process."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

import psycopg

from hub.store.db import Connection, Database

log = logging.getLogger(__name__)

Kind = Literal["sensors", "cameras"]
Counts = Mapping[tuple[str, str], int]  # (source, counter) -> its value in this process
# Counters that are states, not totals (a spool's depth and the age of its oldest entry): each
# report sets them, whichever process reports last.
GAUGES = frozenset({"spool_depth", "spool_age_s"})


class CounterSink:
    """Remembers what one process has added for `kind` and adds only the growth since."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.added: dict[tuple[str, str], int] = {}

    def report(self, db: Database, counts: Counts) -> int:
        """Add the growth of `counts` since the last report, in a transaction of its own; how many
        counters grew. A counter smaller than last time started again (its source was restarted):
        all of it is growth. With the database away the growth waits for the next report (the
        process goes on counting regardless)."""
        counts = dict(counts)
        rows, states = [], []
        at = datetime.now(UTC)
        for key, value in counts.items():
            if key[1] in GAUGES:
                if self.added.get(key) != value:
                    states.append((self.kind, *key, value, at))
                continue
            before = self.added.get(key, 0)
            grown = value - before if value >= before else value
            if grown > 0:
                rows.append((self.kind, *key, grown, at))
        upsert = (
            "INSERT INTO ingest_counters (kind, source, counter, value, updated_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (kind, source, counter) DO UPDATE"
            " SET value = {}, updated_at = EXCLUDED.updated_at"
        )
        try:
            if rows or states:
                with db.pool.connection(timeout=5) as conn, conn.cursor() as cur:
                    cur.executemany(upsert.format("ingest_counters.value + EXCLUDED.value"), rows)
                    cur.executemany(upsert.format("EXCLUDED.value"), states)
        except psycopg.OperationalError as exc:  # the pool's timeouts and closing included
            log.warning("ingest counters not reported: %s", str(exc).splitlines()[0] if str(exc) else exc)
            return 0
        self.added.update(counts)  # only once committed
        return len(rows) + len(states)


def ingest_totals(conn: Connection) -> list[tuple[str, str, str, int]]:
    """(kind, source, counter, value) of every counter any ingest process has reported."""
    rows = conn.execute("SELECT kind, source, counter, value FROM ingest_counters ORDER BY 1, 2, 3")
    return [(str(k), str(s), str(c), int(v)) for k, s, c, v in rows]
