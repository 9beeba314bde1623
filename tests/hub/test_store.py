"""The store on TimescaleDB (Apache build) and on embedded PostgreSQL: schema, retention, rollups."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from harness.pgcluster import start_cluster
from hub.store.db import Database, open_database
from hub.store.migrate import migrations, upgrade
from hub.store.rollups import refresh_rollups
from hub.store.timeseries import (
    TABLES,
    apply_retention,
    compress_old_chunks,
    detect_backend,
    hypertable_names,
)
from tests.conftest import Server

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def test_upgrade_is_idempotent(db: Database) -> None:
    applied, _ = upgrade(db)
    assert applied == []
    with db.transaction() as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in migrations()]


def test_reads_outside_a_transaction_leave_the_next_one_whole(tmp_path: Path, server: Server) -> None:
    dsn = server.create_database()
    db = open_database(dsn, tmp_path, pool_size=1)  # one connection: the read's is the next one's
    try:
        upgrade(db)
        with db.reading() as conn:
            assert conn.execute("SELECT count(*) FROM alerts").fetchone() == (0,)
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE  # no BEGIN sent
        with pytest.raises(RuntimeError), db.transaction() as conn:
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'half')")
            raise RuntimeError("the work failed half way")
        with db.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations WHERE version = 9999").fetchone() == (
                0,
            )
    finally:
        db.close()
        server.drop_database(dsn)


def test_backend_is_detected(db: Database, server: Server) -> None:
    with db.transaction() as conn:
        backend = detect_backend(conn)
        hypertables = hypertable_names(conn)
    if server.kind == "timescaledb":
        assert backend.edition == "apache" and backend.version
        assert hypertables == {t.name for t in TABLES}
    else:
        assert backend.edition == "none"
        assert hypertables == set()


def test_timescaledb_installed_but_not_preloaded_falls_back(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A server with the extension files but without shared_preload_libraries keeps working."""
    cluster = start_cluster(tmp_path_factory.mktemp("no-preload"), timescaledb=False)
    try:
        db = open_database(cluster.dsn, tmp_path_factory.mktemp("no-preload-data"), pool_size=1)
        try:
            applied, backend = upgrade(db)
            with db.transaction() as conn:
                assert hypertable_names(conn) == set()
                tables = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'readings'")
                assert tables.fetchone() == (1,)  # the schema really is there
        finally:
            db.close()
    finally:
        cluster.remove()
    assert backend.edition == "none"
    assert [m.version for m in applied] == [m.version for m in migrations()]


def _readings(db: Database, rows: list[tuple[datetime, str, str, float]]) -> None:
    with (
        db.transaction() as conn,
        conn.cursor().copy("COPY readings (time, sensor, metric, value) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def test_readings_are_unique_per_sensor_metric_time(db: Database) -> None:
    _readings(db, [(T0, "s1", "temperature", -20.0)])
    with pytest.raises(psycopg.errors.UniqueViolation), db.transaction() as conn:
        conn.execute("INSERT INTO readings VALUES (%s, 's1', 'temperature', -19.0)", (T0,))


def test_retention_drops_old_rows_the_same_everywhere(db: Database, server: Server) -> None:
    rows = [(T0 - timedelta(days=d), "s1", "temperature", float(d)) for d in range(0, 120, 5)]
    _readings(db, rows)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO device_health (time, kind, device, status) VALUES (%s, 'camera', 'c1', 'offline'),"
            " (%s, 'camera', 'c1', 'online')",
            (T0 - timedelta(days=40), T0),
        )
        assert server.backend is not None
        keep = {
            "readings": timedelta(days=90),
            "detections": timedelta(days=30),
            "device_health": timedelta(days=30),
        }
        apply_retention(conn, server.backend, keep, T0)
        left = [row[0] for row in conn.execute("SELECT value FROM readings ORDER BY time DESC")]
        health = conn.execute("SELECT status FROM device_health").fetchall()
    assert left == [float(d) for d in range(0, 95, 5)]  # a row exactly at the cutoff is kept
    assert health == [("online",)]


def test_compression_only_where_the_edition_allows(db: Database, server: Server) -> None:
    _readings(db, [(T0 - timedelta(days=30), "s1", "temperature", 1.0)])
    with db.transaction() as conn:
        assert server.backend is not None
        assert compress_old_chunks(conn, server.backend, timedelta(days=7), T0) == 0  # apache / plain
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (1,)


def rollup_rows(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with db.transaction() as conn:
        minutes = conn.execute(
            "SELECT time, sensor, metric, count, sum, min, max FROM readings_1m ORDER BY 1, 2"
        ).fetchall()
        hours = conn.execute(
            "SELECT time, sensor, metric, count, sum, min, max FROM readings_1h ORDER BY 1, 2"
        ).fetchall()
    return minutes, hours


def test_rollups_aggregate_minutes_and_hours(db: Database) -> None:
    # Two sensors, one reading every 20 s for 90 minutes from 10:00.
    start = T0 + timedelta(hours=10)
    rows = [
        (start + timedelta(seconds=20 * i), sensor, "temperature", base + math.sin(i))
        for i in range(270)
        for sensor, base in (("s1", -20.0), ("s2", 4.0))
    ]
    _readings(db, rows)
    with db.transaction() as conn:
        refresh_rollups(conn, start, start + timedelta(hours=2))
    minutes, hours = rollup_rows(db)
    assert len(minutes) == 2 * 90 and len(hours) == 2 * 2
    first = minutes[0]
    expected = [r[3] for r in rows if r[1] == "s1"][:3]
    assert first[:4] == (start, "s1", "temperature", 3)
    assert first[4] == pytest.approx(sum(expected))
    assert (first[5], first[6]) == (min(expected), max(expected))
    ten = next(h for h in hours if h[1] == "s1")
    assert ten[3] == 180 and ten[4] == pytest.approx(sum(r[3] for r in rows[: 2 * 180] if r[1] == "s1"))


def test_rollups_count_late_readings_and_are_repeatable(db: Database) -> None:
    start = T0 + timedelta(hours=10)
    _readings(db, [(start + timedelta(seconds=s), "s1", "lel", 5.0) for s in (0, 10, 70)])
    with db.transaction() as conn:
        refresh_rollups(conn, start, start + timedelta(hours=1))
    _readings(db, [(start + timedelta(seconds=30), "s1", "lel", 11.0)])  # late, inside the window
    with db.transaction() as conn:
        refresh_rollups(conn, start + timedelta(minutes=30), start + timedelta(hours=1))
        refresh_rollups(conn, start + timedelta(minutes=30), start + timedelta(hours=1))
    minutes, hours = rollup_rows(db)
    assert [(m[3], m[4], m[6]) for m in minutes] == [(3, 21.0, 11.0), (1, 5.0, 5.0)]
    assert [(h[3], h[4]) for h in hours] == [(4, 26.0)]


def test_rollups_give_the_same_answers_on_both_servers(
    timescaledb_server: Server, embedded_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    start = T0 + timedelta(hours=6)
    rows = [
        (start + timedelta(seconds=7 * i), f"s{i % 3}", "noise", 40 + (i * 37 % 23) * 0.5)
        for i in range(3000)
    ]
    answers = []
    for server in (timescaledb_server, embedded_server):
        dsn = server.create_database()
        db = open_database(dsn, tmp_path_factory.mktemp("rollup"), pool_size=1)
        try:
            _readings(db, rows)
            with db.transaction() as conn:
                refresh_rollups(conn, start, start + timedelta(hours=7))
            answers.append(rollup_rows(db))
        finally:
            db.close()
            server.drop_database(dsn)
    assert answers[0] == answers[1]
    assert sum(int(str(m[3])) for m in answers[0][0]) == len(rows)
