"""Where the video analysis delivers: events and evidence through an `EventSink`, camera status
into `device_health`, tracked detections, sampled per track (`DetectionSampler`), into the
`detections` table in batches, and each camera's latest analysed frame into `camera_frames`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from capture.health import StatusChange, store_health
from hub.events import Event
from hub.runtime import Hub
from hub.sink import Delivery, EventSink, InProcessSink
from hub.store.camera_frames import CameraFrame, store_frame
from hub.store.detections import DetectionRow, write_detections
from vision.detections import NO_TRACK, Detections

log = logging.getLogger(__name__)


class CameraSink(EventSink, Protocol):
    """What the analysis needs: an `EventSink`, and somewhere to report camera status."""

    def camera_status(self, change: StatusChange) -> None:
        """A camera went online, reconnecting, frozen or offline (for its health record: the
        service sends the events of its `offline` rules through `take`)."""
        ...


@runtime_checkable
class DetectionRecorder(Protocol):
    """A sink that also keeps tracked detections (the hub's; an edge box's keeps none yet)."""

    def record(self, rows: Sequence[DetectionRow]) -> None:
        """Keep `rows` (written in batches: `flush` writes what is waiting)."""
        ...

    def flush(self) -> None:
        """Write the rows still waiting."""
        ...


@runtime_checkable
class FrameRecorder(Protocol):
    """A sink that also keeps each camera's latest analysed frame, for the camera wall (the hub's
    stores it; an edge box's sends it to the hub)."""

    def frame(self, shot: CameraFrame) -> None:
        """Keep `shot` as its camera's latest frame; never raises (the wall can wait for the next)."""
        ...


class DetectionSampler:
    """At most one row per track every `every` seconds of the camera's clock, for the labels some
    rule of the camera watches; detections no tracker took are left out (they have no dwell)."""

    def __init__(self, camera: str, every: float, labels: Collection[str]) -> None:
        self.camera = camera
        self.every = every
        self.labels = frozenset(labels)
        self._last: dict[int, float] = {}  # track -> time of its last row (seconds)

    def __call__(self, moment: datetime, tracked: Detections) -> list[DetectionRow]:
        if self.every <= 0 or not self.labels:
            return []
        now = moment.timestamp()
        # A track whose last row is `every` old is due again: forgetting it changes nothing.
        self._last = {t: last for t, last in self._last.items() if now - last < self.every}
        rows = []
        for box, label, track, conf in zip(
            tracked.xyxy, tracked.labels, tracked.tracker_id, tracked.confidence, strict=True
        ):
            track_id = int(track)
            if track_id == NO_TRACK or str(label) not in self.labels or track_id in self._last:
                continue
            self._last[track_id] = now
            x1, y1, x2, y2 = (round(float(v), 1) for v in box)
            rows.append(
                DetectionRow(moment, self.camera, str(label), float(conf), (x1, y1, x2, y2), track_id)
            )
        return rows


class HubSink:
    """Delivers into a hub through `events` (default: in-process, one transaction per event; a
    `hub.spool.DurableSink` in front of it keeps events while the database is away)."""

    # Tracked detections wait at most this long (or until this many) before one COPY writes them.
    FLUSH_EVERY = 5.0
    FLUSH_AT = 2000

    def __init__(
        self,
        hub: Hub,
        actor: str = "vision",
        events: EventSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hub = hub
        self.events = events or InProcessSink.of(hub, actor)
        self._clock = clock
        self._waiting: list[DetectionRow] = []
        self._flushed = clock()
        self._lock = threading.Lock()  # the cameras' analysis threads share the sink

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

    def record(self, rows: Sequence[DetectionRow]) -> None:
        """Queue `rows` for the `detections` table; written when enough wait or enough time passed."""
        with self._lock:
            self._waiting.extend(rows)
            due = len(self._waiting) >= self.FLUSH_AT or self._clock() - self._flushed >= self.FLUSH_EVERY
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the waiting rows in one transaction; lost with a warning when the database is away
        (they are statistics: the events are what must arrive)."""
        with self._lock:
            batch, self._waiting = self._waiting, []
            self._flushed = self._clock()
        if not batch:
            return
        try:
            with self.hub.db.transaction() as conn:
                write_detections(conn, batch)
        except Exception as exc:
            log.warning("%d tracked detections not recorded: %s", len(batch), exc)

    def frame(self, shot: CameraFrame) -> None:
        """Keep `shot` in `camera_frames`; lost with a warning when the database is away (the next
        comes a few seconds later)."""
        try:
            with self.hub.db.transaction() as conn:
                store_frame(conn, shot)
        except Exception as exc:
            log.warning("camera %s: frame of %s not kept: %s", shot.camera, shot.time, exc)
