"""A throw-away database for a benchmark: on OFFSITE_DATABASE_URL's server, or an embedded one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from hub.store.embedded import start_embedded


@contextmanager
def scratch_database(name: str, folder: Path) -> Iterator[str]:
    """Create database `name` afresh and yield its DSN; drop it (and stop an embedded server) after."""
    embedded = None
    server = os.environ.get("OFFSITE_DATABASE_URL")
    if server is None:
        embedded = start_embedded(folder / "pg")
        server = embedded.dsn
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield make_conninfo(server, dbname=name)
        finally:
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        if embedded is not None:
            embedded.stop()
