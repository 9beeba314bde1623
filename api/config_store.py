"""The deployment in force, as stored in the database: what `offsite config export` writes."""

from __future__ import annotations

from hub.store.db import Connection


def active_config(conn: Connection) -> str | None:
    """The YAML text in force: the one set through the API, else the one loaded last."""
    row = conn.execute(
        "SELECT v.body FROM config_active a JOIN config_versions v ON v.sha256 = a.sha256"
    ).fetchone()
    if row is None:
        row = conn.execute("SELECT body FROM config_versions ORDER BY loaded_at DESC LIMIT 1").fetchone()
    return str(row[0]) if row else None
