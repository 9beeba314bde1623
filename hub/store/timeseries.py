"""Time-series tables on PostgreSQL with or without TimescaleDB, giving the same answers on each.

TimescaleDB comes in two editions: the Apache one (hypertables, drop_chunks) and the full one
(also compression and policy jobs). The hub detects which it has and does the rest itself:
retention and rollups are run by the hub, so plain PostgreSQL behaves the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import psycopg

from hub.store.db import Connection

log = logging.getLogger(__name__)

Edition = Literal["none", "apache", "timescale"]


@dataclass(frozen=True)
class TimeSeriesTable:
    name: str
    chunk: str  # chunk interval
    retention: str  # field of config Retention that bounds it
    segment_by: str  # compression segmenting columns


TABLES = (
    TimeSeriesTable("readings", "1 day", "readings", "sensor, metric"),
    TimeSeriesTable("readings_1m", "7 days", "readings", "sensor, metric"),
    TimeSeriesTable("readings_1h", "30 days", "readings", "sensor, metric"),
    TimeSeriesTable("detections", "1 day", "detections", "camera"),
    TimeSeriesTable("device_health", "7 days", "device_health", "kind, device"),
)


@dataclass(frozen=True)
class Backend:
    """What the database offers for time series."""

    edition: Edition
    version: str | None = None

    @property
    def hypertables(self) -> bool:
        return self.edition != "none"

    @property
    def compression(self) -> bool:
        return self.edition == "timescale"

    def describe(self) -> str:
        if self.edition == "none":
            return "PostgreSQL (no TimescaleDB): plain tables, retention by DELETE"
        extra = "compression available" if self.compression else "Apache edition: no compression"
        return f"TimescaleDB {self.version} ({extra})"


def detect_backend(conn: Connection) -> Backend:
    """Create the timescaledb extension if the server has it loaded, and report its edition."""
    row = conn.execute(
        "SELECT (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'),"
        " current_setting('shared_preload_libraries')"
    ).fetchone()
    assert row is not None
    if row[0] is None:
        return Backend("none")
    if "timescaledb" not in str(row[1]):
        # Creating the extension without the preload breaks the session; say why and go on plain.
        log.warning("TimescaleDB is installed but not in shared_preload_libraries; using plain tables")
        return Backend("none")
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    row = conn.execute(
        "SELECT extversion, current_setting('timescaledb.license', true) "
        "FROM pg_extension WHERE extname = 'timescaledb'"
    ).fetchone()
    assert row is not None
    version, license_ = str(row[0]), str(row[1] or "timescale")
    return Backend("apache" if license_ == "apache" else "timescale", version)


def ensure_hypertables(conn: Connection, backend: Backend) -> None:
    """Turn the time-series tables into hypertables (idempotent); enable compression if allowed."""
    if not backend.hypertables:
        return
    for table in TABLES:
        conn.execute(
            # The migrations index time themselves; a second default index would slow every insert.
            "SELECT create_hypertable(%s::regclass, 'time', chunk_time_interval => %s::interval,"
            " if_not_exists => TRUE, migrate_data => TRUE, create_default_indexes => FALSE)",
            (table.name, table.chunk),
        )
        if backend.compression:
            conn.execute(
                psycopg.sql.SQL(
                    "ALTER TABLE {} SET (timescaledb.compress, timescaledb.compress_segmentby = {})"
                ).format(psycopg.sql.Identifier(table.name), psycopg.sql.Literal(table.segment_by))
            )


def hypertable_names(conn: Connection) -> set[str]:
    """Names of the hypertables in the database (empty without TimescaleDB)."""
    exists = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if not exists:
        return set()
    rows = conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")
    return {str(r[0]) for r in rows}


def apply_retention(
    conn: Connection, backend: Backend, keep: dict[str, timedelta], now: datetime
) -> dict[str, int]:
    """Drop time-series data older than its retention. Returns rows or chunks removed per table."""
    removed: dict[str, int] = {}
    for table in TABLES:
        cutoff = now - keep[table.retention]
        name = psycopg.sql.Identifier(table.name)
        if backend.hypertables:
            rows = conn.execute(
                "SELECT count(*) FROM drop_chunks(%s::regclass, older_than => %s)",
                (table.name, cutoff),
            ).fetchone()
            removed[table.name] = int(rows[0]) if rows else 0
        # Hypertable chunks straddling the cutoff keep older rows; delete them too, so that every
        # backend answers the same.
        cur = conn.execute(psycopg.sql.SQL("DELETE FROM {} WHERE time < %s").format(name), (cutoff,))
        removed[table.name] = removed.get(table.name, 0) + cur.rowcount
    return removed


def compress_old_chunks(conn: Connection, backend: Backend, older_than: timedelta, now: datetime) -> int:
    """Compress chunks older than `older_than` where the edition allows it. Returns chunks done."""
    if not backend.compression:
        return 0
    done = 0
    for table in TABLES:
        rows = conn.execute(
            "SELECT compress_chunk(c, if_not_compressed => TRUE) "
            "FROM show_chunks(%s::regclass, older_than => %s) AS c",
            (table.name, now - older_than),
        ).fetchall()
        done += len(rows)
    return done
