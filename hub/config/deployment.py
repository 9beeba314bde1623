"""The whole deployment file, and lookups the pipeline needs from it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator

from hub.config.devices import Camera, Gateway, Line, Sensor, Zone
from hub.config.domain import (
    ClueDeadline,
    Department,
    Route,
    Site,
    SupervisedObject,
    SupervisionItem,
    default_deadlines,
)
from hub.config.edge import EdgeBoxes
from hub.config.outputs import Output
from hub.config.risk import RiskScoring
from hub.config.rules import External, Fusion, Rule, watched_source
from hub.config.types import Model, RiskClass, Seconds
from hub.config.vision import Vision


class Retention(Model):
    """How long time-series rows are kept; older chunks are dropped by the hub."""

    readings: Seconds = Field(default=90 * 86400.0)
    detections: Seconds = Field(default=30 * 86400.0)
    device_health: Seconds = Field(default=30 * 86400.0)
    compress_after: Seconds = Field(
        default=7 * 86400.0,
        description="Compress chunks older than this where TimescaleDB allows it",
    )


class Storage(Model):
    """Where evidence lives and how long data is kept. The database DSN comes from the environment."""

    evidence_dir: str = Field(default="var/evidence", description="Content-addressed evidence folder")
    retention: Retention = Field(default_factory=Retention)


class Broker(Model):
    """The MQTT broker sensors and edge boxes publish to. Credentials come from the environment."""

    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/\s]+$",
        description="Where the ingest connects: the broker's listener for the hub (shipped: 1884)",
    )
    client_id: str = Field(
        default="offsite-iot",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="MQTT client id of the sensor ingest (`iot run --client-id` overrides it);"
        " with iot.share_group each worker adds -HOSTNAME",
    )

    @field_validator("client_id")
    @classmethod
    def _not_a_device(cls, value: str) -> str:
        # Devices log in as sensor-ID / gateway-ID, which Mosquitto makes their client ids.
        if value.startswith(("sensor-", "gateway-")):
            raise ValueError(f"{value!r} begins like a device's user name (sensor-, gateway-): pick another")
        return value


class IotIngest(Model):
    """How sensor messages are taken from the broker and written."""

    sensor_topic: str = Field(
        default="sites/{site}/sensors/{sensor}/telemetry",
        description="Topic template of single sensors: {site} and {sensor} are required",
    )
    gateway_topic: str = Field(
        default="sites/{site}/gateways/{gateway}/telemetry",
        description="Topic template of gateways: {site} and {gateway} are required",
    )
    share_group: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]+$", description="MQTT shared subscription group to split load"
    )
    auto_register: bool = Field(default=False, description="Accept readings of sensors not in the registry")
    max_skew: Seconds = Field(default=300.0, description="How far in the future a timestamp may be")
    batch_rows: int = Field(default=5000, ge=1, le=1_000_000, description="Rows per database write")
    batch_wait: Seconds = Field(default=0.2, description="Longest wait to fill a batch")
    queue: int = Field(
        default=20_000,
        ge=1,
        le=65_535,
        description="Messages one worker holds unacknowledged (MQTT 5 Receive Maximum and its in-memory"
        " queue); the broker keeps the rest",
    )
    offline_after_intervals: float = Field(
        default=3.0, gt=1, description="A sensor is offline after this many expected intervals of silence"
    )

    @field_validator("sensor_topic", "gateway_topic")
    @classmethod
    def _template(cls, value: str, info: ValidationInfo) -> str:
        needed = ("{site}", "{sensor}") if info.field_name == "sensor_topic" else ("{site}", "{gateway}")
        missing = [n for n in needed if n not in value]
        if missing:
            raise ValueError(f"template must contain {' and '.join(missing)}")
        if "#" in value or "+" in value:
            raise ValueError("template must not contain MQTT wildcards; use {site}, {sensor}, {gateway}")
        return value


# Settings the schema once took that nothing reads: refused by name, with the reason, rather
# than accepted and ignored. Keyed by path without list positions (`objects.risk_grade`).
RETIRED: dict[str, str] = {
    "mode": "read by nothing, so it changed nothing: remove it (an edge box will get settings of its"
    " own with the edge box issue)",
    "objects.risk_grade": "read by nothing: no routing or clue uses a credit-risk grade yet; remove it",
}


class Deployment(Model):
    """One YAML file describing a deployment."""

    name: str = Field(min_length=1)
    timezone: str = Field(default="Asia/Shanghai", description="IANA timezone for schedules")
    language: Literal["zh", "en"] = Field(
        default="zh", description="Language of alert and clue titles: zh (Chinese) or en (English)"
    )
    sites: list[Site] = Field(min_length=1)
    departments: list[Department] = Field(default_factory=list)
    objects: list[SupervisedObject] = Field(default_factory=list)
    items: list[SupervisionItem] = Field(default_factory=list)
    routing: list[Route] = Field(default_factory=list, description="Finding -> department, first match wins")
    clue_deadlines: dict[RiskClass, ClueDeadline] = Field(
        default_factory=default_deadlines,
        description="Per risk class (1 immediate, 2 by a deadline, 3 routine)",
    )
    cameras: list[Camera] = Field(default_factory=list)
    zones: list[Zone] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    sensors: list[Sensor] = Field(default_factory=list)
    gateways: list[Gateway] = Field(default_factory=list)
    iot: IotIngest = Field(default_factory=IotIngest)
    rules: list[Rule] = Field(default_factory=list)
    vision: Vision = Field(default_factory=Vision)
    storage: Storage = Field(default_factory=Storage)
    broker: Broker = Field(default_factory=Broker)
    edge: EdgeBoxes = Field(
        default_factory=EdgeBoxes, description="How the hub watches edge boxes; what the boxes pull"
    )
    risk: RiskScoring = Field(
        default_factory=RiskScoring,
        description="How supervised objects are graded by risk (GET /objects/risk)",
    )
    outputs: list[Output] = Field(
        default_factory=list, description="Destinations the hub pushes its changes to (hub/delivery.py)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Shanghai") from None
        return value

    @field_validator("clue_deadlines")
    @classmethod
    def _every_class(cls, value: dict[RiskClass, ClueDeadline]) -> dict[RiskClass, ClueDeadline]:
        missing = sorted({1, 2, 3} - set(value))
        if missing:
            raise ValueError(f"deadlines missing for risk class(es) {missing}")
        return value

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy with `update` applied whose lookups below are built again from its own fields
        (pydantic's copy would carry the original's cached ones: a camera cut away, or the old
        settings of a camera replaced, would still be found)."""
        copy = super().model_copy(update=update, deep=deep)
        for name, attribute in vars(Deployment).items():
            if isinstance(attribute, cached_property):
                copy.__dict__.pop(name, None)
        return copy

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def rule_by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def site_by_id(self) -> dict[str, Site]:
        return {s.id: s for s in self.sites}

    @cached_property
    def department_by_id(self) -> dict[str, Department]:
        return {d.id: d for d in self.departments}

    @cached_property
    def object_by_code(self) -> dict[str, SupervisedObject]:
        return {o.credit_code: o for o in self.objects}

    @cached_property
    def item_by_code(self) -> dict[str, SupervisionItem]:
        return {i.code: i for i in self.items}

    @cached_property
    def sensor_by_id(self) -> dict[str, Sensor]:
        return {s.id: s for s in self.sensors}

    @cached_property
    def gateway_by_id(self) -> dict[str, Gateway]:
        return {g.id: g for g in self.gateways}

    @cached_property
    def device_object(self) -> dict[str, str]:
        """Source (``camera:ID`` / ``sensor:ID``) -> credit code of the object it watches."""
        found = {f"camera:{c.id}": c.object for c in self.cameras if c.object}
        found |= {f"sensor:{s.id}": s.object for s in self.sensors if s.object}
        return {k: v for k, v in found.items() if v}

    @cached_property
    def source_site(self) -> dict[str, str]:
        """Device source (``camera:ID``, ``sensor:ID``, ``gateway:ID``) -> the site it stands in."""
        placed: list[tuple[str, Camera | Sensor | Gateway]] = [("camera", c) for c in self.cameras]
        placed += [("sensor", s) for s in self.sensors] + [("gateway", g) for g in self.gateways]
        return {f"{kind}:{device.id}": device.site for kind, device in placed}

    @cached_property
    def rule_source(self) -> dict[str, str | None]:
        """Rule id -> the one source whose findings it raises; None for an `external` rule, whose
        findings may come from any source of its site."""
        return {rule.id: watched_source(rule) for rule in self.rules}

    @cached_property
    def rule_site(self) -> dict[str, str]:
        """Rule id -> the site its findings belong to (the site of the device it watches)."""
        found: dict[str, str] = {}
        for rule in self.rules:
            source = self.rule_source[rule.id]
            site = rule.site if isinstance(rule, External | Fusion) else self.source_site.get(source or "")
            if site is not None:
                found[rule.id] = site
        return found

    @cached_property
    def site_objects(self) -> dict[str, frozenset[str]]:
        """Site id -> the supervised objects that may be named in its findings: the one operating
        it, and those its devices and rules watch."""
        found: dict[str, set[str]] = {s.id: {s.object} if s.object else set() for s in self.sites}
        for source, code in self.device_object.items():
            found.setdefault(self.source_site[source], set()).add(code)
        for rule in self.rules:
            if rule.object and rule.id in self.rule_site:
                found.setdefault(self.rule_site[rule.id], set()).add(rule.object)
        return {site: frozenset(codes) for site, codes in found.items()}
