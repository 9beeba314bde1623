"""The batch writer: messages from the receive loop's queue into the database, in batches.

A batch is written until it commits, backing off while the database is away (the broker keeps
what is not acknowledged meanwhile). A batch the database refuses is halved until the one message
it refuses is found: that one becomes a dead letter with the database's reason, every other
message is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import psycopg
from psycopg_pool import PoolTimeout

from hub.config.deployment import IotIngest
from hub.store.db import Database
from iot.payloads import Decoded, Refusal
from iot.receiver import Message
from iot.stats import IngestStats
from iot.writer import DeadLetter, write_batch

log = logging.getLogger(__name__)

# What a message can make the database refuse: its data, never the database's state (that is an
# OperationalError, retried) nor our SQL (a ProgrammingError must not turn all data into dead letters).
REFUSED_BY_DATABASE = (psycopg.DataError, psycopg.IntegrityError, UnicodeEncodeError)


class BatchWriter:
    """Collects batches of at most `iot.batch_rows` readings or `iot.batch_wait` seconds, and
    commits them; `stop` ends a retry in progress."""

    def __init__(self, db: Database, settings: IotIngest, stats: IngestStats, stop: threading.Event) -> None:
        self.db = db
        self.stats = stats
        self._stop = stop
        self._batch_rows = settings.batch_rows
        self._batch_wait = settings.batch_wait

    def collect(self, source: queue.Queue[Message]) -> list[Message]:
        """The next batch from `source`; empty when nothing came within `iot.batch_wait`.

        What the queue holds is taken in bulk, under one hold of its lock, rather than a `get()`
        per message: the receive loop fills it in the meantime without waiting on the writer.
        """
        batch: list[Message] = []
        rows = 0
        deadline = time.monotonic() + self._batch_wait
        while rows < self._batch_rows:
            rows = _take(source, batch, rows, self._batch_rows, deadline)
            if rows < 0:
                break
        return batch

    def commit(self, batch: list[Message]) -> list[Message] | None:
        """Store the batch; None when stopping first. Returns the messages as stored.

        A batch the database refuses is halved until the one message it refuses is found: that
        message comes back as its dead letter, with the database's reason.
        """
        try:
            return batch if self._write(batch) else None
        except REFUSED_BY_DATABASE as exc:
            self.stats.bisections += 1
            if len(batch) == 1:
                refused = _refused(batch[0], exc)
                log.warning("dead letter on %s: %s", refused.topic, refused.decoded.refusals[0].reason)
                return [refused] if self._write([refused]) else None
            half = len(batch) // 2
            first = self.commit(batch[:half])
            second = self.commit(batch[half:]) if first is not None else None
            return None if first is None or second is None else first + second

    def _write(self, batch: list[Message]) -> bool:
        """Write until it succeeds, backing off while the database is away. False when stopping."""
        readings = [r for message in batch for r in message.decoded.readings]
        dead = [DeadLetter(m.received, m.topic, m.payload, r.sensor, r.reason)
                for m in batch for r in m.decoded.refusals]  # fmt: skip
        delay = 0.2
        while True:
            try:
                with self.db.pool.connection(timeout=5) as conn:
                    stored = write_batch(conn, readings, dead)
                self.stats.stored += stored
                return True
            except (psycopg.OperationalError, PoolTimeout) as exc:
                self.stats.write_retries += 1
                self.stats.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.warning("database unavailable (%s); retrying in %.1f s", self.stats.last_error, delay)
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, 5.0)


def _take(source: queue.Queue[Message], batch: list[Message], rows: int, limit: int, deadline: float) -> int:
    """Move messages from `source` to `batch` until it holds `limit` rows or `source` is empty,
    waiting until `deadline` for the first; the rows then in `batch`, or -1 when none came."""
    with source.not_empty:
        waiting = source.queue  # the queue's own deque: taken from under its lock, as get() does
        while not waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return -1
            source.not_empty.wait(remaining)
        taken = 0
        while waiting and rows < limit:
            message = waiting.popleft()
            batch.append(message)
            rows += len(message.decoded.readings) or 1  # a dead letter is a row too
            taken += 1
        source.not_full.notify(taken)  # a receive loop waiting in put() has room again
    return rows


def _refused(message: Message, exc: Exception) -> Message:
    """`message` as the dead letter the database's refusal makes of it."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    sensors = {r.sensor for r in message.decoded.readings}
    sensor = sensors.pop() if len(sensors) == 1 else None
    refusal = Refusal(f"the database refused the message ({type(exc).__name__}): {first}"[:300], sensor)
    return message._replace(decoded=Decoded(refusals=[refusal]))
