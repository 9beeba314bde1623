"""Where the video analysis delivers: events and evidence into the hub."""

from __future__ import annotations

import logging
from typing import Protocol

from capture.health import StatusChange, health_events, store_health
from hub.events import Event, EventRejected, Outcome
from hub.runtime import Hub

log = logging.getLogger(__name__)


class EventSink(Protocol):
    """What the analysis needs from whoever stores its findings (the hub, or an edge uplink)."""

    def store(self, data: bytes, media_type: str) -> str:
        """Keep an evidence file; returns its SHA-256."""
        ...

    def take(self, event: Event) -> Outcome | None:
        """Deliver one event; None when it was refused (logged, never raised)."""
        ...

    def attach(self, event_id: str, evidence: list[str]) -> None:
        """Add evidence made after its event (the clip) to the event's records."""
        ...

    def camera_status(self, change: StatusChange) -> None:
        """A camera went online, reconnecting, frozen or offline."""
        ...


class HubSink:
    """Delivers into a hub in the same process, one transaction per call."""

    def __init__(self, hub: Hub, actor: str = "vision") -> None:
        self.hub = hub
        self.actor = actor

    def store(self, data: bytes, media_type: str) -> str:
        with self.hub.db.transaction() as conn:
            return self.hub.evidence.register(conn, data, media_type)

    def take(self, event: Event) -> Outcome | None:
        try:
            return self.hub.take(event).outcome
        except EventRejected as exc:
            log.warning("vision event refused: %s", exc)
            return None

    def attach(self, event_id: str, evidence: list[str]) -> None:
        with self.hub.db.transaction() as conn:
            self.hub.pipeline.attach(conn, event_id, evidence, self.actor)

    def camera_status(self, change: StatusChange) -> None:
        with self.hub.db.transaction() as conn:
            store_health(conn, [change])
        for event in health_events(change, self.hub.config.deployment):
            self.take(event)
