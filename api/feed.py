"""The alert change feed: rows the `alerts` trigger writes, read in id order, woken by NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from api.auth import Principal
from hub.store.db import Connection

CHANNEL = "alert_changes"


@dataclass(frozen=True)
class AlertChange:
    """One change of one alert: `alert` is the row as the change left it."""

    id: int
    op: str
    alert: dict[str, Any]


def latest_change(conn: Connection) -> int:
    """The id of the newest change (0 when there is none): where a fresh subscriber starts."""
    row = conn.execute("SELECT coalesce(max(id), 0) FROM alert_changes").fetchone()
    return int(row[0]) if row else 0


def changes_after(conn: Connection, after: int, principal: Principal, limit: int = 200) -> list[AlertChange]:
    """Changes with an id above `after` that `principal` may see, oldest first.

    A department sees only alerts a clue of its own rests on; the others it may not learn of.
    """
    rows = conn.execute(
        "SELECT id, op, alert FROM alert_changes f WHERE id > %(after)s AND (%(dept)s::text IS NULL"
        " OR EXISTS (SELECT 1 FROM risk_clues c WHERE c.alert_id = f.alert_id AND c.department = %(dept)s))"
        " ORDER BY id LIMIT %(limit)s",
        {"after": after, "dept": principal.department, "limit": limit},
    ).fetchall()
    return [AlertChange(int(r[0]), str(r[1]), dict(r[2])) for r in rows]


class AlertFeed:
    """Wakes stream readers when the database announces a change; they then read the table.

    Readers also look on their own every `poll` seconds, so a lost notification (the listener
    reconnecting) delays a change, never drops it: the table, not the notification, is the truth.
    """

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self.generation = 0
        self._changed = asyncio.Condition()

    async def _bump(self) -> None:
        async with self._changed:
            self.generation += 1
            self._changed.notify_all()

    async def notified(self, payload: str) -> None:
        await self._bump()

    async def reset(self, listening: bool) -> None:
        if listening:
            await self._bump()  # whatever happened while nobody listened

    async def wait(self, seen: int) -> int:
        """Wait until the generation moves past `seen` or `poll` seconds pass; the new generation."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.generation != seen), self.poll)
            return self.generation
