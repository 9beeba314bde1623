"""Versioned, idempotent, additive migrations; TimescaleDB set up where it is available."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from hub.store.db import Connection, Database
from hub.store.timeseries import Backend, detect_backend, ensure_hypertables

log = logging.getLogger(__name__)

_LOCK_KEY = 0x0FF5_17E0  # advisory lock serialising concurrent upgrades
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The migrations shipped with the package, in order."""
    found = []
    for entry in resources.files("hub.store").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def _applied(conn: Connection) -> set[int]:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}


def pending_migrations(conn: Connection) -> list[Migration]:
    """The shipped migrations this database has not applied yet."""
    done = _applied(conn)
    return [m for m in migrations() if m.version not in done]


def upgrade(db: Database) -> tuple[list[Migration], Backend]:
    """Apply the migrations not yet applied, then make time-series tables hypertables if possible.

    Returns what was applied (empty when the schema was current) and the detected backend.
    """
    with db.transaction() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        pending = pending_migrations(conn)
        for migration in pending:
            log.info("applying migration %04d_%s", migration.version, migration.name)
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
        backend = detect_backend(conn)
        ensure_hypertables(conn, backend)
    return pending, backend
