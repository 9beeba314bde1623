"""An edge box: its settings, where its analysis delivers, and its heartbeat.

The box needs no database or broker credentials: only the hub's URL, the site's edge token and,
for a hub behind a private CA, that CA's certificate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from capture.health import StatusChange, health_events
from edge.uplink import TIMEOUT, HubUplink, Refused
from hub.config import Deployment
from hub.events import Event
from hub.sink import Delivery, HubUnavailable
from hub.spool import DurableSink

log = logging.getLogger(__name__)


class EdgeSettings(BaseSettings):
    """What a box reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="OFFSITE_", extra="ignore")

    hub_url: str = Field(description="The hub's API, e.g. https://hub.example.org/api")
    edge_token: SecretStr = Field(
        min_length=1, description="An edge token of the box's site (offsite token create)"
    )
    hub_ca: Path | None = Field(default=None, description="CA certificate of a hub behind a private CA")
    data_dir: Path = Field(default=Path("var"), description="The outbox lives here")
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
    """Where the box's analysis delivers (a `vision.sink.CameraSink`): events and evidence into the
    outbox, camera status kept for the heartbeat and turned into the `offline` rules' events."""

    def __init__(self, outbox: DurableSink, deployment: Deployment) -> None:
        self.outbox = outbox
        self.deployment = deployment
        self.cameras: dict[str, str] = {c.id: "connecting" for c in deployment.cameras if c.enabled}

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        return self.outbox.take(events)

    def keep(self, data: bytes, media_type: str) -> str:
        return self.outbox.keep(data, media_type)

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        self.outbox.attach(event_id, evidence)

    def camera_status(self, change: StatusChange) -> None:
        self.cameras[change.camera] = str(change.status)
        self.take(health_events(change, self.deployment))


class HeartbeatSender:
    """Sends the box's heartbeat every `every` seconds from a thread of its own; a heartbeat that
    does not arrive is logged and not repeated (the next one says the same, newer)."""

    def __init__(
        self,
        uplink: HubUplink,
        site: str,
        config_version: str,
        outbox: DurableSink,
        cameras: Callable[[], dict[str, str]],
        every: float,
        answered: Path | None = None,
    ) -> None:
        self.uplink, self.site, self.config_version = uplink, site, config_version
        self.outbox, self.cameras, self.every = outbox, cameras, every
        self.answered = answered  # touched when the hub takes a heartbeat: a container's health check
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "time": datetime.now(UTC).isoformat(),
            "software": software_version(),
            "config_version": self.config_version,
            "outbox_depth": self.outbox.depth(),
            "outbox_age_s": round(self.outbox.age(), 3),
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
