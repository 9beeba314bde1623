"""An edge box: its settings, where its analysis delivers, and its heartbeat.

The box needs no database or broker credentials: only the hub's URL, the site's edge token and,
for a hub behind a private CA, that CA's certificate.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from capture.health import StatusChange
from edge.config import SiteConfig, models_present
from edge.frames import FrameSender
from edge.readings import ROW_BYTES, ReadingsOutbox
from edge.uplink import TIMEOUT, HubUplink, Refused
from hub.config import Deployment
from hub.events import Event
from hub.sink import Delivery, HubUnavailable
from hub.spool import DurableSink
from hub.store.camera_frames import CameraFrame
from hub.store.detections import DetectionRow
from vision.detectors import Detector
from vision.service import Reconfigured, VisionService

log = logging.getLogger(__name__)


class EdgeSettings(BaseSettings):
    """What a box reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="OFFSITE_", extra="ignore")

    hub_url: str = Field(description="The hub's API, e.g. https://hub.example.org/api")
    edge_token: SecretStr = Field(
        min_length=1, description="An edge token of the box's site (offsite token create)"
    )
    hub_ca: Path | None = Field(default=None, description="CA certificate of a hub behind a private CA")
    data_dir: Path = Field(default=Path("var"), description="The outbox and the kept config live here")
    heartbeat_every: float = Field(default=30.0, gt=0, le=3600, description="Seconds between heartbeats")

    def uplink(self, timeout: float = TIMEOUT) -> HubUplink:
        return HubUplink(self.hub_url, self.edge_token.get_secret_value(), ca=self.hub_ca, timeout=timeout)


def software_version() -> str:
    try:
        return version("offsite")
    except PackageNotFoundError:
        return "unknown"


def site_cameras(deployment: Deployment, site: str | None) -> tuple[str, Deployment]:
    """The box's site and the deployment cut to that site's cameras. Without `site`, the enabled
    cameras must all stand in one site; ValueError says which sites they span."""
    sites = sorted({c.site for c in deployment.cameras if c.enabled})
    if site is None:
        if len(sites) != 1:
            raise ValueError(
                f"the cameras span {len(sites)} sites ({', '.join(sites) or 'none'}); a box serves one:"
                " name it with --site"
            )
        site = sites[0]
    elif site not in {s.id for s in deployment.sites}:
        raise ValueError(
            f"no site {site} in the deployment; sites: {', '.join(s.id for s in deployment.sites)}"
        )
    mine = [c for c in deployment.cameras if c.site == site]
    return site, deployment.model_copy(update={"cameras": mine})


class BoxSink:
    """Where the box's analysis delivers (a `vision.sink.CameraSink` and `DetectionRecorder`):
    events, evidence and the sampled tracked detections into the outbox (the detections go to the
    hub's `POST /edge/detections` after everything else), camera status kept for the heartbeat and
    turned into the `offline` rules' events."""

    def __init__(
        self, outbox: DurableSink, deployment: Deployment, frames: FrameSender | None = None
    ) -> None:
        self.outbox = outbox
        self.frames = frames  # the camera wall's frames go straight to the hub, newest only
        self.cameras: dict[str, str] = {}  # camera id -> its status
        self.use(deployment)

    def use(self, deployment: Deployment) -> None:
        """Serve `deployment`'s cameras from now on: a camera that stays keeps its status, a new
        one is connecting. Changed in place, since the camera threads write into it."""
        self.deployment = deployment
        enabled = [c.id for c in deployment.cameras if c.enabled]
        for gone in [c for c in self.cameras if c not in enabled]:
            del self.cameras[gone]
        for camera in enabled:
            self.cameras.setdefault(camera, "connecting")

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        return self.outbox.take(events)

    def keep(self, data: bytes, media_type: str) -> str:
        return self.outbox.keep(data, media_type)

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        self.outbox.attach(event_id, evidence)

    def record(self, rows: Sequence[DetectionRow]) -> None:
        """Spool `rows` (the outbox's drainer sends what waits, a second's worth in one request);
        lost with a warning when the outbox cannot take them (a full disk): they are statistics,
        and the camera's analysis goes on."""
        try:
            self.outbox.keep_detections(rows)
        except sqlite3.Error as exc:
            log.warning("%d tracked detections not kept: %s", len(rows), exc)

    def flush(self) -> None:
        """Nothing waits in memory: `record` spooled it."""

    def frame(self, shot: CameraFrame) -> None:
        """Hand `shot` to the camera wall's sender (a `vision.sink.FrameRecorder`): never waits,
        never raises; dropped when the box sends no frames."""
        if self.frames is not None:
            self.frames.offer(shot)

    def camera_status(self, change: StatusChange) -> None:
        if change.camera in self.cameras:  # not a removed camera's last word
            self.cameras[change.camera] = str(change.status)


class RunningConfig(Protocol):
    """The config a box runs, as its heartbeat reports it (`edge.config.SiteConfig` is one)."""

    @property
    def version(self) -> str: ...

    @property
    def refused(self) -> str: ...


@dataclass(frozen=True)
class FileConfig:
    """A deployment file given on the command line: not pulled from the hub, never refused."""

    version: str
    refused: str = ""


READINGS_SHARE = 0.25  # of `edge.outbox_limit_mb`, for a box that takes its site's sensors


def disk_bounds(deployment: Deployment, site: str | None) -> tuple[int, int]:
    """The event outbox's bound in bytes and the readings outbox's in readings: together
    `edge.outbox_limit_mb`, of which a box taking `site`'s sensors (`Site.sensors_at_edge`) gives
    their readings `READINGS_SHARE`, at `edge.readings.ROW_BYTES` a reading."""
    total = int(deployment.edge.outbox_limit_mb * 2**20)
    place = deployment.site_by_id.get(site or "")
    takes = place is not None and place.sensors_at_edge and any(s.site == site for s in deployment.sensors)
    readings = int(total * READINGS_SHARE) if takes else 0
    return total - readings, max(1, readings // ROW_BYTES)


def machine(where: Path) -> dict[str, Any]:
    """The box's load, free memory and free disk at `where` (the outbox's folder)."""
    pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "load_1m": round(os.getloadavg()[0], 3),
        "memory_free_bytes": int(pages),
        "disk_free_bytes": shutil.disk_usage(where).free,
    }


class HeartbeatSender:
    """Sends the box's heartbeat every `every` seconds from a thread of its own; a heartbeat that
    does not arrive is logged and not repeated (the next one says the same, newer). `clock` is
    the box's clock as the heartbeat reports it."""

    def __init__(
        self,
        uplink: HubUplink,
        site: str,
        config: RunningConfig,
        outbox: DurableSink,
        cameras: Callable[[], dict[str, str]],
        every: float,
        answered: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        readings: ReadingsOutbox | None = None,
    ) -> None:
        self.uplink, self.site, self.config, self.clock = uplink, site, config, clock
        self.readings = readings  # the sensors' readings wait in an outbox of their own
        self.outbox, self.cameras, self.every = outbox, cameras, every
        self.answered = answered  # touched when the hub takes a heartbeat: a container's health check
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat(self) -> dict[str, Any]:
        depth, age, evicted = self.outbox.depth(), self.outbox.age(), self.outbox.stats.evicted
        if self.readings is not None:  # counted with the events: what waits, what was evicted
            depth += self.readings.depth()
            age = max(age, self.readings.age())
            evicted += self.readings.stats.evicted
        return {
            "site": self.site,
            "time": self.clock().isoformat(),
            "software": software_version(),
            "config_version": self.config.version,
            "config_refused": self.config.refused,
            "outbox_depth": depth,
            "outbox_age_s": round(age, 3),
            "outbox_bytes": self.outbox.size(),
            "outbox_limit_bytes": self.outbox.limit_bytes or 0,
            "outbox_evicted": evicted,
            **machine(self.outbox.path.parent),
            "cameras": dict(self.cameras()),
        }

    def send(self) -> bool:
        """Send one heartbeat now; whether the hub took it."""
        try:
            self.uplink.heartbeat(self.beat())
        except (HubUnavailable, Refused) as exc:
            self.failed += 1
            log.warning("heartbeat not sent: %s", exc)
            return False
        self.sent += 1
        if self.answered is not None:
            self.answered.touch()
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            self.send()
            if self._stop.wait(self.every):
                return


class Analysis:
    """The box's cameras analysed on the config in force. A new config is checked beside the
    running one (`prepare`, `edge.config.SiteConfig`'s check: a model that does not load refuses
    it) and then taken camera by camera (`switch`): only the cameras it changed restart.
    `detectors` hands in loaded detectors by model id, as `VisionService` takes them."""

    def __init__(
        self,
        deployment: Deployment,
        sink: BoxSink,
        outbox: DurableSink,
        detectors: Mapping[str, Detector] | None = None,
        site: str | None = None,
    ) -> None:
        self.sink, self.outbox, self.site = sink, outbox, site
        self.service = VisionService(deployment, sink, detectors=detectors)
        self._next: Deployment | None = None

    def prepare(self, deployment: Deployment) -> None:
        """Load what `deployment` needs beside the running analysis; raises `ModelError` (a
        ValueError) when it cannot."""
        models_present(deployment)
        self.service.preload(deployment)
        self._next = deployment

    def follow(self, config: SiteConfig) -> bool:
        """Pull the hub's newest config and switch to it when it is new and this box can run it;
        whether it switched. A hub that does not answer is logged; the next pull asks again."""
        try:
            if config.pull() is None:
                return False
        except (HubUnavailable, Refused) as exc:
            log.warning("config not pulled: %s", exc)
            return False
        self.switch()
        return True

    def switch(self) -> Reconfigured | None:
        """Take the prepared config: its changed cameras restart, the others run on; the outbox
        takes its new bound and pace. What changed, or None when nothing was prepared."""
        if self._next is None:
            return None
        deployment, self._next = self._next, None
        self.outbox.limit_bytes = disk_bounds(deployment, self.site)[0]
        self.outbox.catch_up_per_s = deployment.edge.catch_up_per_s
        self.sink.use(deployment)  # first: the cameras that start report into it
        done = self.service.reconfigure(deployment)
        log.info(
            "cameras: %d kept, %d started, %d restarted, %d stopped",
            len(done.kept), len(done.started), len(done.restarted), len(done.stopped),
        )  # fmt: skip
        return done
