"""The database handle: a psycopg connection pool, on a configured DSN or an embedded server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from hub.store.embedded import EmbeddedServer, start_embedded
from hub.store.times import read_any_time

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


def columns_of(record: type) -> str:
    """A record dataclass's fields as a select list, in field order, so that rows are built with
    `psycopg.rows.args_row(record)`: positionally, about twice as fast as by name (`class_row`)."""
    return ", ".join(f.name for f in fields(record))


@dataclass
class Database:
    """A pool of connections; `embedded` is set when this process started the server."""

    pool: ConnectionPool
    dsn: str
    embedded: EmbeddedServer | None = field(default=None)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside a transaction, committed on success and rolled back on error."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection outside any transaction, for reads of one statement each: every statement
        stands alone, which saves the round trips that open and end a transaction (a first page
        of alerts: 0.6 ms instead of 0.9 ms, and a quarter less of the client's CPU)."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                conn.autocommit = False

    def close(self) -> None:
        self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


def open_database(dsn: str | None, data_dir: Path, *, pool_size: int = 8) -> Database:
    """Connect to `dsn`, or start (or reuse) the embedded server under ``data_dir/pg``."""
    embedded = None
    if dsn is None:
        embedded = start_embedded(data_dir / "pg")
        dsn = embedded.dsn
    pool = ConnectionPool(
        dsn, min_size=1, max_size=pool_size, open=False, name="offsite", configure=read_any_time
    )
    try:
        pool.open(wait=True, timeout=30)
    except Exception:
        pool.close()
        if embedded is not None:
            embedded.stop()
        raise
    return Database(pool=pool, dsn=dsn, embedded=embedded)
