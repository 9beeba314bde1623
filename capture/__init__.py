"""Camera sources -> frames (PyAV; one worker per camera, a watchdog, a clip buffer)."""

from capture.clip import Clip, ClipError, PacketRing
from capture.frames import Frame, FrameQueue
from capture.health import CameraStatus, StatusChange, status_event, store_health
from capture.sources import Source, SourceError, SourceKind
from capture.watchdog import CameraCapture, Watchdog
from capture.worker import Backoff, CameraWorker, WorkerSettings

__all__ = [
    "Backoff",
    "CameraCapture",
    "CameraStatus",
    "CameraWorker",
    "Clip",
    "ClipError",
    "Frame",
    "FrameQueue",
    "PacketRing",
    "Source",
    "SourceError",
    "SourceKind",
    "StatusChange",
    "Watchdog",
    "WorkerSettings",
    "status_event",
    "store_health",
]
