"""The `offline` rules of a deployment's cameras, each raised once its camera's problem has
lasted the rule's `after`.

A camera is reported offline after the worker's reconnect window and frozen after its
`frozen_after`; a rule with a longer `after` waits the rest, counted from when the camera last
worked (its last frame, or the last change of its picture). A camera back online before then
raises nothing; one back online after its rule was raised clears that rule's event.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from capture.health import PROBLEMS, CameraStatus, StatusChange, status_event
from hub.config import Deployment
from hub.config.devices import Camera
from hub.config.rules import Offline
from hub.events import Event


@dataclass(frozen=True, slots=True)
class _Due:
    rule: Offline
    camera: Camera
    change: StatusChange  # the change that made the camera a problem
    at: datetime  # when the rule's event is due


class OfflineAlarms:
    """Status changes in, `offline` rule events out: `change()` on every change, `due()` often
    (the capture watchdog calls it) for the events whose `after` has run out."""

    def __init__(self, deployment: Deployment) -> None:
        cameras = {c.id: c for c in deployment.cameras}
        self._rules = [
            (rule, cameras[rule.camera])
            for rule in deployment.rules
            if isinstance(rule, Offline) and rule.camera in cameras
        ]
        self._waiting: dict[str, _Due] = {}  # by rule id
        self._raised: set[str] = set()  # rules whose problem event went out and is not cleared
        self._lock = threading.Lock()  # changes come from the camera threads, `due` from the watchdog

    def change(self, change: StatusChange) -> list[Event]:
        """The events a camera's status change means now (clears, and raises already due)."""
        out: list[Event] = []
        with self._lock:
            for rule, camera in self._rules:
                if camera.id != change.camera:
                    continue
                if change.status in PROBLEMS:
                    if rule.id not in self._raised and rule.id not in self._waiting:
                        since = change.since or change.time
                        self._waiting[rule.id] = _Due(
                            rule, camera, change, since + timedelta(seconds=rule.after)
                        )
                elif change.status == CameraStatus.ONLINE:
                    self._waiting.pop(rule.id, None)
                    if rule.id in self._raised:
                        self._raised.discard(rule.id)
                        cleared = status_event(change, rule, camera, raised=True)
                        out += [cleared] if cleared is not None else []
        return out + self.due(change.time)

    def due(self, now: datetime) -> list[Event]:
        """Problem events whose rule's `after` has run out by `now`, stamped with that moment."""
        out: list[Event] = []
        with self._lock:
            for rule_id, due in list(self._waiting.items()):
                if due.at > now:
                    continue
                del self._waiting[rule_id]
                self._raised.add(rule_id)
                event = status_event(due.change, due.rule, due.camera, max(due.at, due.change.time))
                out += [event] if event is not None else []
        return out
