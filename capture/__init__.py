"""Camera sources -> frames (PyAV; one worker per camera, a watchdog, a clip buffer)."""

from ingest.clip import Clip, ClipError, PacketRing
from ingest.frames import Frame, FrameQueue
from ingest.health import CameraStatus, StatusChange, health_events, status_event, store_health
from ingest.sources import Source, SourceError, SourceKind
from ingest.watchdog import CameraIngest, Watchdog
from ingest.worker import Backoff, CameraWorker, WorkerSettings

__all__ = [
    "Backoff",
    "CameraIngest",
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
    "health_events",
    "status_event",
    "store_health",
]
