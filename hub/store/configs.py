"""The one writer of the stored deployment: `config_versions` (migration 0001: every text ever
loaded or saved, under its SHA-256, which records refer to) and `config_active` (0003: the version
in force). The hub's start and the API's edits both keep their text here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from hub.store.db import Connection

Document = dict[str, Any]
_LOCK_KEY = 0x0FF5_C0F1  # serialises config writers, so each edit starts from the version in force


@dataclass(frozen=True)
class ConfigVersion:
    """One stored deployment text and its SHA-256 (the version records refer to, and the ETag)."""

    sha256: str
    text: str

    def document(self) -> Document:
        """The text as data, as written: defaults left out, durations as given."""
        data = yaml.safe_load(self.text)
        return data if isinstance(data, dict) else {}


class VersionMismatch(Exception):
    """The caller edited a version that is no longer in force."""


def keep(conn: Connection, sha256: str, name: str, text: str, set_by: str, at: datetime) -> bool:
    """Store `text` under its SHA-256 (once) and make it the version in force, set by `set_by` at
    `at` (a version already in force keeps who set it and when). True when the text is new.

    Takes the writers' lock, so a hub starting and an administrator's edit do not interleave."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    row = conn.execute(
        "INSERT INTO config_versions (sha256, name, body) VALUES (%s, %s, %s)"
        " ON CONFLICT (sha256) DO NOTHING RETURNING sha256",
        (sha256, name, text),
    ).fetchone()
    conn.execute(
        "INSERT INTO config_active (sha256, set_at, set_by) VALUES (%s, %s, %s)"
        " ON CONFLICT (one) DO UPDATE SET sha256 = EXCLUDED.sha256, set_at = EXCLUDED.set_at,"
        " set_by = EXCLUDED.set_by WHERE config_active.sha256 <> EXCLUDED.sha256",
        (sha256, at, set_by),
    )
    return row is not None


def active_version(conn: Connection) -> ConfigVersion | None:
    """The version in force: the one set last (at a start or through the API), else the one
    loaded last (a database from before config_active)."""
    row = conn.execute(
        "SELECT v.sha256, v.body FROM config_active a JOIN config_versions v ON v.sha256 = a.sha256"
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT sha256, body FROM config_versions ORDER BY loaded_at DESC LIMIT 1"
        ).fetchone()
    return ConfigVersion(str(row[0]), str(row[1])) if row else None


def active_config(conn: Connection) -> str | None:
    """The YAML text in force, or None before any deployment was loaded."""
    version = active_version(conn)
    return version.text if version else None


def lock_active(conn: Connection, if_match: set[str] | None = None) -> ConfigVersion | None:
    """Take the writers' lock for this transaction and return the version in force.

    `if_match` holds the ETags the caller based its edit on (`*` for any): VersionMismatch when
    the version in force is none of them.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    current = active_version(conn)
    if if_match is not None and "*" not in if_match and (current is None or current.sha256 not in if_match):
        raise VersionMismatch(current.sha256 if current else "")
    return current
