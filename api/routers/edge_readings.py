"""`POST /edge/readings`: the readings of the sensors wired to an edge box, stored by the same
writer as the hub's own sensor ingest (`iot.writer.write_batch`).

The box's sensor rules judge the readings on the box and send their events through `POST /events`
(see `edge.sensors`); the hub keeps the readings for the curves, the evidence and the queries.
Each reading is bound to the edge token's site and checked as the hub's decoder checks a device's
(a metric of its sensor, within its physical bounds, a time in the sane window); one that is not
refuses the whole batch, nothing stored, with the field named. A (sensor, metric, time) is
stored once: a batch sent again after a lost answer stores nothing twice. The sensors' status
changes, which the box judges (it hears them; the hub would take an uplink outage for silence),
come with them into `device_health`, each (sensor, time, status) once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, Field, model_validator

from api.deps import Db, ServicesDep
from api.errors import forbidden, unprocessable
from api.routers import AUTH_RESPONSES
from api.routers.edge import EdgeBox
from api.schemas import Body
from hub.config import Deployment
from hub.events import EARLIEST
from hub.store.db import Connection
from hub.store.device_health import HealthChange, store_health
from iot.payloads import MAX_NAME
from iot.readings import Reading
from iot.writer import write_batch

router = APIRouter(prefix="/edge", tags=["edge"], responses=AUTH_RESPONSES)

MAX_READINGS = 10_000  # per request: a box sends 1000
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
Value = Annotated[float, Field(allow_inf_nan=False)]


class SeriesCreate(Body):
    """Readings of one metric of one sensor, oldest first: a time and a value each (columns
    rather than an object per reading, which cost the hub a third of a box's throughput)."""

    sensor: Name = Field(description="A sensor of the token's site")
    metric: Name = Field(description="One of the sensor's metrics")
    times: list[AwareDatetime] = Field(min_length=1, max_length=MAX_READINGS, description="When measured")
    values: list[Value] = Field(
        min_length=1, max_length=MAX_READINGS, description="Calibrated, in the metric's unit; one per time"
    )

    @model_validator(mode="after")
    def _paired(self) -> SeriesCreate:
        if len(self.times) != len(self.values):
            raise ValueError(f"{len(self.times)} times and {len(self.values)} values: one value per time")
        return self


class SensorStatusCreate(Body):
    sensor: Name = Field(description="A sensor of the token's site")
    status: Literal["online", "offline"]
    time: AwareDatetime = Field(description="When the box found the sensor so")


class ReadingsCreate(Body):
    """A batch of readings from a box, oldest first, and its sensors' status changes."""

    site: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The site the box serves: the edge token's"
    )
    series: list[SeriesCreate] = Field(default_factory=list, max_length=1000)
    health: list[SensorStatusCreate] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _bounded(self) -> ReadingsCreate:
        total = sum(len(s.times) for s in self.series)
        if total > MAX_READINGS:
            raise ValueError(f"{total} readings in one request; at most {MAX_READINGS}")
        return self


class ReadingsTaken(Body):
    taken: int = Field(description="Readings in the batch")
    stored: int = Field(description="Of them, stored now; the others were stored before (a batch sent again)")


@router.post("/readings", response_model=ReadingsTaken, summary="Store the readings of a box's sensors")
async def post_readings(
    body: ReadingsCreate, caller: EdgeBox, db: Db, services: ServicesDep
) -> ReadingsTaken:
    """Every series must be of a sensor of the token's site (403 naming the field) and one of
    its metrics, its values within the metric's bounds and its times from 2000 up to
    `iot.max_skew` ahead of the hub's clock (422 naming the field). The status changes of the site's sensors
    (`health`) go into `device_health`, each (sensor, time, status) once."""
    site = str(caller.site)
    if body.site != site:
        raise forbidden(["body", "site"], f"this edge token sends for site {site}, not {body.site}")
    deployment = services.hub.config.deployment
    latest = services.now() + timedelta(seconds=deployment.iot.max_skew)
    readings = [
        r for i, series in enumerate(body.series) for r in _checked(deployment, site, i, series, latest)
    ]
    changes = []
    for i, given in enumerate(body.health):
        sensor = deployment.sensor_by_id.get(given.sensor)
        if sensor is None or sensor.site != site:
            why = f"sensor {given.sensor!r} is not a sensor of site {site}"
            raise forbidden(["body", "health", i, "sensor"], why)
        if not EARLIEST <= given.time <= latest:
            raise unprocessable(["body", "health", i, "time"], f"{given.time.isoformat()} is out of range")
        changes.append(
            HealthChange(given.time, "sensor", sensor.id, given.status, f"reported by {caller.name}")
        )
    stored = await db.run(_store, readings, changes)
    return ReadingsTaken(taken=len(readings), stored=stored)


def _checked(
    deployment: Deployment, site: str, index: int, given: SeriesCreate, latest: datetime
) -> list[Reading]:
    """`given` as readings to store, or the 403/422 naming its field."""
    where: list[str | int] = ["body", "series", index]
    sensor = deployment.sensor_by_id.get(given.sensor)
    if sensor is None or sensor.site != site:
        raise forbidden([*where, "sensor"], f"sensor {given.sensor!r} is not a sensor of site {site}")
    metric = sensor.metrics.get(given.metric)
    if metric is None:
        known = ", ".join(sorted(sensor.metrics))
        why = f"sensor {sensor.id} has no metric {given.metric!r}; it has {known}"
        raise unprocessable([*where, "metric"], why)
    if not metric.min <= min(given.values) <= max(given.values) <= metric.max:
        j, value = next((j, v) for j, v in enumerate(given.values) if not metric.min <= v <= metric.max)
        bounds = f"[{metric.min:g}, {metric.max:g}]"
        raise unprocessable([*where, "values", j], f"{value:g} {metric.unit} is outside {bounds}")
    if not EARLIEST <= min(given.times) <= max(given.times) <= latest:
        j, moment = next((j, t) for j, t in enumerate(given.times) if not EARLIEST <= t <= latest)
        why = f"{moment.isoformat()} is before {EARLIEST.date()} or ahead of the hub's clock"
        raise unprocessable([*where, "times", j], why)
    return [Reading(sensor.id, given.metric, t, v) for t, v in zip(given.times, given.values, strict=True)]


def _store(conn: Connection, readings: list[Reading], changes: list[HealthChange]) -> int:
    new = [
        c for c in changes
        if conn.execute(
            "SELECT 1 FROM device_health WHERE kind = 'sensor' AND device = %s AND time = %s AND status = %s",
            (c.device, c.time, c.status),
        ).fetchone() is None
    ]  # fmt: skip
    store_health(conn, new)
    return write_batch(conn, readings, []) if readings else 0
