"""The alert change feed: rows the `alerts` trigger writes, read in id order, woken by NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg

from api.auth import Principal
from hub.store.db import Connection

log = logging.getLogger(__name__)
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

    Readers also look on their own every `poll` seconds, so a lost notification (a listener
    reconnecting) delays a change, never drops it: the table, not the notification, is the truth.
    """

    def __init__(self, dsn: str, poll: float) -> None:
        self.dsn = dsn
        self.poll = poll
        self.generation = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="alert-feed-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _bump(self) -> None:
        async with self._changed:
            self.generation += 1
            self._changed.notify_all()

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    await self._bump()  # whatever happened while we were not listening
                    async for _ in conn.notifies():
                        await self._bump()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening.clear()
                log.warning("alert feed listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(1.0)

    async def wait(self, seen: int) -> int:
        """Wait until the generation moves past `seen` or `poll` seconds pass; the new generation."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.generation != seen), self.poll)
            return self.generation
