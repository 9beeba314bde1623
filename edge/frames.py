"""An edge box's latest analysed frame of each camera, sent to the hub's camera wall
(`POST /edge/frames`).

Frames are disposable: only the newest of a camera matters, so they do not go through the outbox.
The analysis hands a frame over (`offer`) without waiting on the network: it takes the place of
its camera's frame still waiting, and one thread of its own sends what waits. A frame the hub
does not take (away, or refusing it) is dropped and counted; the camera's next frame tries again.
"""

from __future__ import annotations

import logging
import threading

from edge.uplink import HubUplink, Refused
from hub.sink import HubUnavailable
from hub.store.camera_frames import CameraFrame

log = logging.getLogger(__name__)


class FrameSender:
    """Sends the newest frame of each camera through `uplink` (closed with the sender)."""

    def __init__(self, uplink: HubUplink) -> None:
        self.uplink = uplink
        self.sent = 0
        self.dropped = 0  # not taken by the hub: away, or refused
        self.replaced = 0  # a newer frame of its camera came before it was sent
        self._waiting: dict[str, CameraFrame] = {}  # camera -> its newest frame not sent yet
        self._changed = threading.Condition()
        self._stopping = False
        self._failing = False  # the last frame did not arrive: logged once until one does
        self._thread = threading.Thread(target=self._run, name="frames", daemon=True)
        self._thread.start()

    def offer(self, shot: CameraFrame) -> None:
        """Send `shot` as soon as the thread is free, unless a newer frame of its camera comes
        first; returns at once."""
        with self._changed:
            if shot.camera in self._waiting:
                self.replaced += 1
            self._waiting[shot.camera] = shot
            self._changed.notify()

    def close(self) -> None:
        """Stop sending (what waits is dropped: the next run sends newer frames) and close the uplink."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout=30)
        self.uplink.close()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not (self._waiting or self._stopping):
                    self._changed.wait()
                if self._stopping:
                    return
                waiting, self._waiting = self._waiting, {}
            for shot in waiting.values():
                self._send(shot)

    def _send(self, shot: CameraFrame) -> None:
        try:
            self.uplink.post_frame(shot)
        except (HubUnavailable, Refused) as exc:
            self.dropped += 1
            if not self._failing:
                log.warning("frame of camera %s dropped (the next one tries again): %s", shot.camera, exc)
            self._failing = True
            return
        except Exception:  # the thread must outlive one bad frame
            self.dropped += 1
            log.exception("frame of camera %s dropped", shot.camera)
            return
        if self._failing:
            log.info("frames reach the hub again")
        self._failing = False
        self.sent += 1
