"""Edge boxes: how the hub watches them, and what each box takes from the config it pulls."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from pydantic import Field

from hub.config.types import Model, Seconds

if TYPE_CHECKING:
    from hub.config.deployment import Deployment


class EdgeBoxes(Model):
    """The hub's watch over its edge boxes and the settings every box pulls with its site's slice."""

    offline_after: Seconds = Field(
        default=120.0, description="A box silent this long gets an `edge offline` finding on the hub"
    )
    max_clock_skew: Seconds = Field(
        default=60.0,
        description="A box whose clock differs from the hub's by more gets a `clock skew` finding",
    )
    config_every: Seconds = Field(
        default=60.0, description="Seconds between a box's pulls of its config (GET /edge/config)"
    )
    outbox_limit_mb: float = Field(
        default=2048.0,
        gt=0,
        le=1024 * 1024,
        description="Disk a box's outbox may hold, in MB; past it clips are evicted, then snapshots,"
        " never events",
    )
    late_after: Seconds = Field(
        default=60.0,
        description="An event the hub receives this long after it happened counts as a late arrival"
        " (GET /edge/lag)",
    )
    catch_up_per_s: float = Field(
        default=20.0,
        gt=0,
        le=10_000,
        description="Entries (events, evidence files, attachments) a box delivers per second at most,"
        " in bursts of a second's worth: after an outage the boxes catch up without flooding the hub",
    )


# Sections the boxes have no use for: routing and outputs are the hub's work, and a webhook's
# settings are not for every site's box to read.
HUB_ONLY = ("routing", "outputs")


def site_slice(document: dict[str, Any], deployment: Deployment, site: str) -> dict[str, Any]:
    """The part of a deployment document (as written) that a box of `site` runs: that site, its
    cameras with their zones and lines, its sensors and gateways, the rules raising its findings
    and the supervised objects they name; the catalogue (departments, items), the vision models and
    the settings as they are."""
    cameras = {c.id for c in deployment.cameras if c.site == site}
    objects = deployment.site_objects.get(site, frozenset())
    wanted: dict[str, Callable[[dict[str, Any]], bool]] = {
        "sites": lambda e: e.get("id") == site,
        "cameras": lambda e: e.get("id") in cameras,
        "zones": lambda e: e.get("camera") in cameras,
        "lines": lambda e: e.get("camera") in cameras,
        "sensors": lambda e: e.get("site") == site,
        "gateways": lambda e: e.get("site") == site,
        "rules": lambda e: deployment.rule_site.get(str(e.get("id"))) == site,
        "objects": lambda e: e.get("credit_code") in objects,
    }
    part = {name: value for name, value in document.items() if name not in HUB_ONLY}
    for name, keep in wanted.items():
        if isinstance(part.get(name), list):
            part[name] = [e for e in part[name] if isinstance(e, dict) and keep(e)]
    return part


def sensors_of(deployment: Deployment, sites: Collection[str]) -> Deployment:
    """`deployment` with only the sensors and gateways of `sites`, and without the rules watching
    any other sensor or gateway: what one sensor ingest takes and judges. The hub's ingest takes
    the sites whose sensors are not at an edge box (`Site.sensors_at_edge`); a box, its own site."""
    kept = {s.id for s in deployment.sensors if s.site in sites}
    kept |= {g.id for g in deployment.gateways if g.site in sites}
    devices = ("sensor:", "gateway:")

    def wanted(source: str | None) -> bool:
        return source is None or not source.startswith(devices) or source.split(":", 1)[1] in kept

    part = deployment.model_copy(
        update={
            "sensors": [s for s in deployment.sensors if s.site in sites],
            "gateways": [g for g in deployment.gateways if g.site in sites],
            "rules": [r for r in deployment.rules if wanted(deployment.rule_source[r.id])],
        }
    )
    return part


def hub_sensors(deployment: Deployment) -> Deployment:
    """`deployment` for the hub's own sensor ingest: the sensors of the sites without an edge box
    taking them (`Site.sensors_at_edge`)."""
    return sensors_of(deployment, {s.id for s in deployment.sites if not s.sensors_at_edge})
