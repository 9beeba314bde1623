"""Batches of readings into the readings hypertable with COPY; refusals into dead_letters.

COPY cannot skip rows that exist already, so a batch goes through a temporary staging table and
`INSERT ... ON CONFLICT DO NOTHING`: a redelivered message stores nothing twice. A batch is one
transaction: its readings and its dead letters are committed together or not at all.
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
    """Store a batch in one transaction (a savepoint inside the caller's); returns the new readings.

    The common case, a batch of new readings, is one COPY straight into the hypertable. When
    that meets a row stored before (a redelivery), the batch goes through a staging table
    that skips what exists.
    """
    with conn.transaction():
        stored = _store_readings(conn, readings) if readings else 0
        if dead:
            _store_dead_letters(conn, dead)
    return stored


def _store_readings(conn: Connection, readings: list[Reading]) -> int:
    try:
        with conn.transaction():  # a savepoint: a redelivery falls back to the merge
            _copy(conn, "readings", readings)
        return len(readings)
    except UniqueViolation:
        return _merge(conn, readings)


def _store_dead_letters(conn: Connection, dead: list[DeadLetter]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY dead_letters (received_at, topic, payload_head, payload_size, sensor, reason) FROM STDIN"
        ) as copy,
    ):
        for d in dead:
            sensor = None if d.sensor is None else _text(d.sensor)
            head = d.payload[:PAYLOAD_HEAD]
            copy.write_row((d.received_at, _text(d.topic), head, len(d.payload), sensor, _text(d.reason)))


def _text(value: str) -> str:
    """`value` as PostgreSQL text can hold it: a dead letter is the last stop, it must never fail.

    Unpaired surrogates and NUL are written as escapes (the decoder's checks keep them out of
    readings; a reason may still quote one).
    """
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _copy(conn: Connection, table: str, readings: list[Reading]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            sql.SQL("COPY {} (sensor, metric, time, value) FROM STDIN (FORMAT BINARY)").format(
                sql.Identifier(table)
            )
        ) as copy,
    ):
        copy.set_types(["text", "text", "timestamptz", "float8"])
        write = copy.write_row
        for reading in readings:  # a Reading is a row in the COPY's column order
            write(reading)


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
