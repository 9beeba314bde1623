"""Reading times PostgreSQL can hold and Python cannot (BC dates, years past 9999, ±infinity).

The intake refuses such times, but a row written by hand or by an older version must never turn
a whole page into an error: it is read as the first or last day Python can represent, a day
inside either end so that moving it to any time zone still works.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.abc import AdaptContext, Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

_OID = psycopg.adapters.types["timestamptz"].oid


class _Clamping(Loader):
    """psycopg's own loader of one format (C when available), clamping what it cannot load."""

    format: Format

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        own = psycopg.adapters.get_loader(_OID, self.format)
        assert own is not None, "psycopg always has a timestamptz loader"
        self._load = own(oid, context).load

    def load(self, data: Buffer) -> datetime:
        try:
            return self._load(data)  # type: ignore[no-any-return]
        except psycopg.DataError:
            return EARLIEST if self._too_early(bytes(data)) else LATEST

    def _too_early(self, raw: bytes) -> bool:
        return raw.startswith(b"-") or raw.endswith(b"BC")


class _ClampingText(_Clamping):
    format = Format.TEXT


class _ClampingBinary(_Clamping):
    format = Format.BINARY

    def _too_early(self, raw: bytes) -> bool:  # microseconds since 2000
        return bool(struct.unpack("!q", raw)[0] < 0)


def read_any_time(conn: psycopg.Connection[Any]) -> None:
    """Make `conn` read every `timestamptz` it can hold, clamping what Python cannot."""
    conn.adapters.register_loader("timestamptz", _ClampingText)
    conn.adapters.register_loader("timestamptz", _ClampingBinary)
