"""Ingest counters in the database: each process adds its growth, the totals outlive restarts."""

from __future__ import annotations

from pathlib import Path

from hub.counters import CounterSink, ingest_totals
from hub.store.db import Database, open_database


def _totals(db: Database) -> list[tuple[str, str, str, int]]:
    with db.transaction() as conn:
        return ingest_totals(conn)


def test_processes_add_their_growth_and_restarts_lose_nothing(db: Database) -> None:
    worker, camera = CounterSink("sensors"), CounterSink("cameras")
    assert worker.report(db, {("iot-1", "readings"): 10, ("iot-1", "refused"): 0}) == 1
    assert worker.report(db, {("iot-1", "readings"): 25, ("iot-1", "refused"): 2}) == 2
    assert worker.report(db, {("iot-1", "readings"): 25, ("iot-1", "refused"): 2}) == 0
    camera.report(db, {("hall-window-1", "decoded"): 500})
    # The worker restarted under the same client id: a new process counts from zero.
    CounterSink("sensors").report(db, {("iot-1", "readings"): 7})
    # A counter of a running process that went down (its source was restarted) starts again.
    worker.report(db, {("iot-1", "readings"): 4, ("iot-1", "refused"): 2})
    assert _totals(db) == [
        ("cameras", "hall-window-1", "decoded", 500),
        ("sensors", "iot-1", "readings", 36),
        ("sensors", "iot-1", "refused", 2),
    ]


def test_growth_not_written_is_added_by_the_next_report(db: Database, tmp_path: Path) -> None:
    sink = CounterSink("sensors")
    sink.report(db, {("iot-1", "readings"): 10})
    away = open_database(db.dsn, tmp_path, pool_size=1)
    away.pool.close()  # the database cannot be reached
    assert sink.report(away, {("iot-1", "readings"): 30}) == 0
    assert _totals(db) == [("sensors", "iot-1", "readings", 10)]
    sink.report(db, {("iot-1", "readings"): 31})
    assert _totals(db) == [("sensors", "iot-1", "readings", 31)]


def test_a_spool_s_depth_and_age_are_set_not_added(db: Database) -> None:
    sink = CounterSink("sensors")
    sink.report(db, {("iot-1", "spool_depth"): 40, ("iot-1", "spool_age_s"): 61, ("iot-1", "events"): 3})
    sink.report(db, {("iot-1", "spool_depth"): 0, ("iot-1", "spool_age_s"): 0, ("iot-1", "events"): 5})
    assert _totals(db) == [
        ("sensors", "iot-1", "events", 5),
        ("sensors", "iot-1", "spool_age_s", 0),
        ("sensors", "iot-1", "spool_depth", 0),
    ]
