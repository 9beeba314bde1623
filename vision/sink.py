"""Where the video analysis delivers: events and evidence through an `EventSink`, camera status
into `device_health`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from capture.health import StatusChange, store_health
from hub.events import Event
from hub.runtime import Hub
from hub.sink import Delivery, EventSink, InProcessSink

log = logging.getLogger(__name__)


class CameraSink(EventSink, Protocol):
    """What the analysis needs: an `EventSink`, and somewhere to report camera status."""

    def camera_status(self, change: StatusChange) -> None:
        """A camera went online, reconnecting, frozen or offline (for its health record: the
        service sends the events of its `offline` rules through `take`)."""
        ...


class HubSink:
    """Delivers into a hub through `events` (default: in-process, one transaction per event; a
    `hub.spool.DurableSink` in front of it keeps events while the database is away)."""

    def __init__(self, hub: Hub, actor: str = "vision", events: EventSink | None = None) -> None:
        self.hub = hub
        self.events = events or InProcessSink.of(hub, actor)

    def keep(self, data: bytes, media_type: str) -> str:
        return self.events.keep(data, media_type)

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        return self.events.take(events)

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        self.events.attach(event_id, evidence)

    def camera_status(self, change: StatusChange) -> None:
        """Record the change in `device_health` (its `offline` rule events come from the service)."""
        try:
            with self.hub.db.transaction() as conn:
                store_health(conn, [change])
        except Exception as exc:  # the status row is history; the rule events are what must arrive
            log.warning("camera %s: status %s not recorded: %s", change.camera, change.status, exc)
