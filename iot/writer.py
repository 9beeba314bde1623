"""Batches of readings into the readings hypertable with COPY; refusals into dead_letters.

COPY cannot skip rows that exist already, so a batch goes through a temporary staging table and
`INSERT ... ON CONFLICT DO NOTHING`: a redelivered message stores nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import sql
from psycopg.errors import UniqueViolation

from hub.store.db import Connection
from iot.readings import Reading

PAYLOAD_HEAD = 256  # bytes of a refused payload kept for diagnosis


@dataclass(frozen=True, slots=True)
class DeadLetter:
    received_at: datetime
    topic: str
    payload: bytes
    sensor: str | None
    reason: str


def write_batch(conn: Connection, readings: list[Reading], dead: list[DeadLetter]) -> int:
    """Store a batch in the caller's transaction; returns the readings that were new.

    The common case, a batch of new readings, is one COPY straight into the hypertable. When
    that meets a row stored before (a redelivery), the batch goes through a staging table
    that skips what exists.
    """
    stored = 0
    if readings:
        try:
            with conn.transaction():
                _copy(conn, "readings", readings)
            stored = len(readings)
        except UniqueViolation:
            stored = _merge(conn, readings)
    if dead:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY dead_letters (received_at, topic, payload_head, payload_size, sensor, reason)"
                " FROM STDIN"
            ) as copy,
        ):
            for d in dead:
                copy.write_row(
                    (d.received_at, d.topic, d.payload[:PAYLOAD_HEAD], len(d.payload), d.sensor, d.reason)
                )
    return stored


def _copy(conn: Connection, table: str, readings: list[Reading]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            sql.SQL("COPY {} (time, sensor, metric, value) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(table)
            )
        ) as copy,
    ):
        copy.set_types(["timestamptz", "text", "text", "float8"])
        for r in readings:
            copy.write_row((r.time, r.sensor, r.metric, r.value))


def _merge(conn: Connection, readings: list[Reading]) -> int:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS readings_staging"
        " (time timestamptz, sensor text, metric text, value double precision) ON COMMIT DELETE ROWS"
    )
    _copy(conn, "readings_staging", readings)
    cur = conn.execute(
        "INSERT INTO readings (time, sensor, metric, value)"
        " SELECT DISTINCT ON (sensor, metric, time) time, sensor, metric, value FROM readings_staging"
        " ON CONFLICT (sensor, metric, time) DO NOTHING"
    )
    return cur.rowcount
