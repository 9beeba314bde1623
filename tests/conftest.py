"""Shared fixtures: real PostgreSQL servers (TimescaleDB Apache build and embedded), fresh databases.

Store and pipeline tests run on both servers through the parametrised `server` fixture. A server
that cannot start is an error, never a skip: the test command installs what they need.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from harness.pgcluster import start_cluster
from hub.config import Deployment, load_config
from hub.pipeline import Pipeline
from hub.store.db import Database, open_database
from hub.store.embedded import start_embedded
from hub.store.migrate import upgrade
from hub.store.timeseries import Backend

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = "offsite_template"


@dataclass
class Server:
    """A running PostgreSQL server with a migrated template database to copy from."""

    kind: str
    dsn: str
    backend: Backend | None = None

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            _close_sessions(conn, TEMPLATE)
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return make_conninfo(self.dsn, dbname=name)

    def drop_database(self, dsn: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _prepare(kind: str, dsn: str, data_dir: Path) -> Server:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    template = open_database(make_conninfo(dsn, dbname=TEMPLATE), data_dir, pool_size=1)
    try:
        _, backend = upgrade(template)
    finally:
        template.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {TEMPLATE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
        _close_sessions(conn, TEMPLATE)
    return Server(kind, dsn, backend)


def _close_sessions(conn: psycopg.Connection[tuple[object, ...]], database: str) -> None:
    """End sessions on a template (TimescaleDB's scheduler attaches to every database with the
    extension), which would otherwise block CREATE DATABASE ... TEMPLATE."""
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))


@pytest.fixture(scope="session")
def timescaledb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cluster = start_cluster(tmp_path_factory.mktemp("timescale"), timescaledb=True)
    try:
        yield _prepare("timescaledb", cluster.dsn, tmp_path_factory.mktemp("ts-data"))
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A folder of its own: pytest prunes old base temp folders, which a concurrent run could do
    # under a live server.
    folder = Path(tempfile.mkdtemp(prefix="offsite-embedded-"))
    server = start_embedded(folder / "pg")
    try:
        yield _prepare("embedded", server.dsn, tmp_path_factory.mktemp("emb-data"))
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(
    scope="session",
    params=["timescaledb", "embedded"],
    ids=["server=pg15+timescaledb", "server=embedded-pg"],
)
def server(request: pytest.FixtureRequest) -> Server:
    """Each test using it runs once on TimescaleDB (Apache build, PostgreSQL 15) and once on the
    embedded PostgreSQL; the ids say which (`test_x[server=embedded-pg]`), `-k embedded` picks one."""
    return request.getfixturevalue(f"{request.param}_server")  # type: ignore[no-any-return]


@pytest.fixture
def db(server: Server, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated database of its own for one test."""
    dsn = server.create_database()
    database = open_database(dsn, tmp_path, pool_size=4)
    try:
        yield database
    finally:
        database.close()
        server.drop_database(dsn)


@dataclass
class Clock:
    """A settable clock for the pipeline: tests move time instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC))  # 10:00 CST

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def demo_config() -> Deployment:
    return load_config(REPO / "configs" / "demo.yaml").deployment


@pytest.fixture
def pipeline(demo_config: Deployment, clock: Clock) -> Pipeline:
    return Pipeline(demo_config, "0" * 64, clock=clock)
