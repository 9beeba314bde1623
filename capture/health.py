"""Camera status (online, reconnecting, frozen, offline) and how a change becomes hub input.

A change is reported once, through a callback; `capture.alarms.OfflineAlarms` turns it into
events for the deployment's `offline` rules of that camera, and `store_health` into
`device_health` rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from av import VideoFrame

from hub.config.devices import Camera
from hub.config.rules import Offline
from hub.events import Event
from hub.store import device_health
from hub.store.db import Connection
from hub.store.device_health import HealthChange

# Frozen detection compares grey pictures this wide, each pixel the mean of its block (8 x 8 of a
# 1280 x 720 frame): a clerk shifting 10 px changes a few hundred of their pixels by 16 or more
# grey levels, while sensor grain and coding noise, averaged over the block, change none by more
# than 4 (measured on the scenario clips, x264 at crf 23). At 32 x 18 the clerk's movement was
# lost in the mean and a live camera was reported frozen.
THUMBNAIL_WIDTH = 160
NOISE_LEVEL = 12  # grey levels a pixel must change by to count: three times the noise seen
CHANGED_SHARE = 0.0005  # share of the pixels (7 of 160 x 90) that must change: the picture lives


class CameraStatus(StrEnum):
    CONNECTING = "connecting"  # started, no frame yet
    ONLINE = "online"  # frames arrive and the picture changes
    RECONNECTING = "reconnecting"  # the stream broke or went silent; retrying with backoff
    FROZEN = "frozen"  # frames arrive but show the same picture
    OFFLINE = "offline"  # reconnecting for too long, or a source that cannot work (see detail)


PROBLEMS = frozenset({CameraStatus.OFFLINE, CameraStatus.FROZEN})


@dataclass(frozen=True, slots=True)
class StatusChange:
    camera: str
    status: CameraStatus
    previous: CameraStatus
    time: datetime
    detail: str = ""  # why: the error, "no frame for 10 s", "same picture for 30 s"
    since: datetime | None = None  # a problem's start: the last frame, or picture change (else `time`)

    def health(self) -> HealthChange:
        """The change as a `device_health` row."""
        return HealthChange(self.time, "camera", self.camera, str(self.status), self.detail)


class FrozenDetector:
    """The picture is frozen when no decoded frame has differed from the last changed one, above
    sensor noise, for `after` seconds (see THUMBNAIL_WIDTH for what counts as a change)."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._reference: npt.NDArray[np.int16] | None = None
        self._changed_at = 0.0  # monotonic: when the picture last changed

    def reset(self) -> None:
        self._reference = None

    @staticmethod
    def thumbnail(frame: VideoFrame) -> npt.NDArray[np.int16]:
        """The frame as a small grey picture, each pixel the mean of the block it covers."""
        height = max(1, round(frame.height * THUMBNAIL_WIDTH / max(1, frame.width)))
        small = frame.reformat(width=THUMBNAIL_WIDTH, height=height, format="gray", interpolation="AREA")
        return np.asarray(small.to_ndarray(), np.int16)

    def changed(self, thumb: npt.NDArray[np.int16]) -> bool:
        """Whether `thumb` differs from the picture last seen changing, above sensor noise."""
        if self._reference is None or self._reference.shape != thumb.shape:
            return True
        moved = np.count_nonzero(np.abs(thumb - self._reference) > NOISE_LEVEL)
        return bool(moved >= CHANGED_SHARE * thumb.size)

    def update(self, frame: VideoFrame, now: float) -> bool:
        """Feed a decoded frame at monotonic time `now`; True while the picture is frozen."""
        thumb = self.thumbnail(frame)
        if self.changed(thumb):
            self._reference = thumb
            self._changed_at = now
        return self.frozen(now)

    def frozen(self, now: float) -> bool:
        return self._reference is not None and now - self._changed_at >= self.after

    @property
    def changed_at(self) -> float:
        """When (monotonic) the picture last changed."""
        return self._changed_at


def status_event(
    change: StatusChange, rule: Offline, camera: Camera, at: datetime | None = None, *, raised: bool = False
) -> Event | None:
    """The event a status change means for one `offline` rule: raised when the camera goes
    offline or freezes, cleared when it is back online after a problem (or after a problem the
    rule `raised` an event for); None for the other changes. `at`: the event's time (default the
    change's)."""
    if change.status in PROBLEMS:
        cleared = False
    elif change.status == CameraStatus.ONLINE and (raised or change.previous in PROBLEMS):
        cleared = True
    else:
        return None
    stamp = change.time.strftime("%Y%m%dT%H%M%S.%f")
    return Event(
        id=f"{rule.id}:{camera.id}:{change.status}:{stamp}",
        source=f"camera:{camera.id}",
        site=camera.site,
        rule=rule.id,
        time=at or change.time,
        cleared=cleared,
        object=camera.object,
        payload={"status": str(change.status), "previous": str(change.previous), "detail": change.detail},
    )


def store_health(conn: Connection, changes: Iterable[StatusChange]) -> None:
    """Record camera status changes in `device_health`, through its one writer."""
    device_health.store_health(conn, [change.health() for change in changes])
