"""The one way into the hub: an `EventSink` takes events (and the evidence they cite).

Every producer delivers through this protocol: the cameras' analysis, the sensor rules, the API's
``POST /events``, and an edge box's uplink. Two implementations live in the hub:

- `InProcessSink`: the hub's pipeline in this process, one transaction per event; raises
  `HubUnavailable` when the database is away (a caller with nowhere to keep events, like the
  API, answers so; the others put a `DurableSink` in front).
- `hub.spool.DurableSink`: an on-disk spool in front of another sink; it keeps events and
  evidence while that sink is away and delivers them in order, exactly once by event id.

The hub's intake is idempotent by event id, so delivering an event twice (a crash between the
hub's commit and the spool's) changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import psycopg
from psycopg_pool import PoolTimeout

from hub.events import Event, EventRejected, Outcome
from hub.evidence import EvidenceStore
from hub.pipeline import Pipeline
from hub.runtime import Hub
from hub.store.db import Connection, Database

log = logging.getLogger(__name__)


class Fate(StrEnum):
    """What became of one event handed to a sink."""

    TAKEN = "taken"  # the hub applied it; `Delivery.outcome` says how
    REFUSED = "refused"  # the hub refuses it (EventRejected): recorded, never retried
    SPOOLED = "spooled"  # kept on disk; delivered once the hub is back


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event's fate, in the order the events were given."""

    event_id: str
    fate: Fate
    outcome: Outcome | None = None  # set when TAKEN
    alert_id: int | None = None
    reason: str = ""  # why, when REFUSED

    @property
    def alerting(self) -> bool:
        """True when the event opened or repeats an alert, or may have (still spooled): worth a clip."""
        return self.outcome in (Outcome.OPENED, Outcome.UPDATED) or self.fate is Fate.SPOOLED


class HubUnavailable(RuntimeError):
    """The hub (its database) cannot take anything now; nothing after `delivered` was taken."""

    def __init__(self, message: str, delivered: list[Delivery]) -> None:
        super().__init__(message)
        self.delivered = delivered


class EventSink(Protocol):
    """Where producers deliver. Implementations must keep the order of `take` calls per source."""

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        """Deliver events in order; one `Delivery` per event. Never drops an event silently."""
        ...

    def keep(self, data: bytes, media_type: str) -> str:
        """Keep an evidence file for events to cite; returns its SHA-256."""
        ...

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        """Add evidence made after its event (a clip) to what the event made."""
        ...


# What says the database is away (retry later), as opposed to a refusal of the event itself.
UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)
CONNECT_WAIT = 5.0  # seconds to wait for a pooled connection before calling the hub away


class InProcessSink:
    """The hub's pipeline in this process, one transaction per event."""

    def __init__(self, db: Database, pipeline: Pipeline, evidence: EvidenceStore | None, actor: str) -> None:
        self.db = db
        self.pipeline = pipeline
        self.evidence = evidence  # None: this producer cites no evidence (the sensor rules)
        self.actor = actor  # who attaches evidence, in the audit trail

    @classmethod
    def of(cls, hub: Hub, actor: str) -> InProcessSink:
        return cls(hub.db, hub.pipeline, hub.evidence, actor)

    def _transaction(self) -> AbstractContextManager[Connection]:
        # A short wait for a connection: with the database away a producer must not hang in here.
        return self.db.pool.connection(timeout=CONNECT_WAIT)

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        done: list[Delivery] = []
        for event in events:
            try:
                with self._transaction() as conn:
                    taken = self.pipeline.take(conn, event)
            except EventRejected as exc:
                log.warning("event refused: %s", exc)
                done.append(Delivery(event.id, Fate.REFUSED, reason=str(exc)))
                continue
            except UNAVAILABLE as exc:
                raise HubUnavailable(_first_line(exc), done) from exc
            done.append(Delivery(event.id, Fate.TAKEN, taken.outcome, taken.alert_id))
        return done

    def keep(self, data: bytes, media_type: str) -> str:
        if self.evidence is None:
            raise RuntimeError(f"{self.actor} was given no evidence store")
        try:
            with self._transaction() as conn:
                return self.evidence.register(conn, data, media_type)
        except UNAVAILABLE as exc:
            raise HubUnavailable(_first_line(exc), []) from exc

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        try:
            with self._transaction() as conn:
                self.pipeline.attach(conn, event_id, list(evidence), self.actor)
        except UNAVAILABLE as exc:
            raise HubUnavailable(_first_line(exc), []) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
