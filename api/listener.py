"""The API's one LISTEN connection: database notifications passed on to whoever keeps state on them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import psycopg

log = logging.getLogger(__name__)


class Subscriber(Protocol):
    async def notified(self, payload: str) -> None:
        """One notification on the subscriber's channel."""

    async def reset(self, listening: bool) -> None:
        """The listener (re)connected (True), or lost its connection (False): notifications may
        have been missed, so whatever was derived from them is to be looked at again."""


class Listener:
    """Listens on each subscriber's channel over one connection, reconnecting when it is lost."""

    def __init__(self, dsn: str, subscribers: dict[str, Subscriber], retry: float = 1.0) -> None:
        self.dsn, self.subscribers, self.retry = dsn, subscribers, retry
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="api-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _reset(self, listening: bool) -> None:
        for subscriber in self.subscribers.values():
            await subscriber.reset(listening)

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    for channel in self.subscribers:
                        await conn.execute(f'LISTEN "{channel}"')
                    self.listening.set()
                    await self._reset(True)
                    async for note in conn.notifies():
                        subscriber = self.subscribers.get(note.channel)
                        if subscriber is not None:
                            await subscriber.notified(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.listening.is_set():
                    self.listening.clear()
                    await self._reset(False)
                log.warning("the API's database listener lost its connection (%s); reconnecting", exc)
                await asyncio.sleep(self.retry)
