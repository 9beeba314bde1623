"""Sensors for people: each sensor with its newest values and health (GET /sensors), a metric over
any range (GET /sensors/{id}/readings), and the curve around a sensor alert with the rule's limits.

A department sees the sensors of the sites its clues come from; the duty platform sees all."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from api.deps import Db, Reader, ServicesDep
from api.errors import unprocessable
from api.readings import bucket_of, buckets, raw_readings, resolution_for
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.schemas import (
    AlertCurve,
    CurvePoint,
    DeviceStatus,
    LatestReading,
    RecordId,
    SensorCurve,
    SensorMetric,
    SensorView,
)
from api.scope import time_range, visible_sites
from hub import alerts
from hub.config import Deployment
from hub.config.devices import Sensor
from hub.config.rules import SensorRule, Threshold
from hub.store.db import Connection
from hub.store.device_health import latest_health
from hub.workflow import RecordNotFound

router = APIRouter(tags=["alerts"], responses=AUTH_RESPONSES)
MARGIN = timedelta(minutes=30)  # drawn before the alert began and after it ended
LONGEST = timedelta(days=7)  # of an alert still going on: the curve shows its last week
RAW_UNTIL = timedelta(hours=1)  # ranges up to this long are drawn from the readings themselves
MOST_RAW = 20_000  # readings one answer carries; more asks for buckets
WIDEST = timedelta(days=400)  # the longest range one answer covers
DEFAULT_RANGE = timedelta(hours=24)


@router.get(
    "/alerts/{alert_id}/curve",
    response_model=AlertCurve,
    responses=NOT_FOUND,
    summary="The sensor readings around a sensor alert",
)
async def alert_curve(alert_id: RecordId, db: Db, caller: Reader, services: ServicesDep) -> AlertCurve:
    """Mean, least and greatest reading per minute (per hour past 12 hours) of the rule's sensor
    metric, from 30 minutes before the alert to 30 minutes after it, with the rule's limits.
    404 for an alert whose rule watches no sensor metric, and for a department, as everywhere,
    for an alert behind none of its clues."""
    deployment = services.hub.config.deployment
    now = services.now()

    def read(conn: Connection) -> AlertCurve:
        alert = alerts.get_alert(conn, alert_id, caller.department)
        rule = deployment.rule_by_id.get(alert.rule)
        if not isinstance(rule, SensorRule):
            raise RecordNotFound(f"alert {alert_id}'s rule {alert.rule} watches no sensor metric")
        end = min(now, (alert.ended_at or alert.last_seen) + MARGIN)
        start = max(alert.first_seen - MARGIN, end - LONGEST)
        resolution = resolution_for(start, end)
        start = bucket_of(start, resolution)  # whole buckets only
        sensor = deployment.sensor_by_id.get(rule.sensor)
        metric = sensor.metrics.get(rule.metric) if sensor else None
        return AlertCurve(
            alert_id=alert_id,
            sensor=rule.sensor,
            sensor_name=sensor.name if sensor else rule.sensor,
            metric=rule.metric,
            unit=metric.unit if metric else None,
            above=rule.above if isinstance(rule, Threshold) else None,
            below=rule.below if isinstance(rule, Threshold) else None,
            start=start,
            end=end,
            resolution=resolution,
            points=[
                CurvePoint.model_validate(b)
                for b in buckets(conn, rule.sensor, rule.metric, start, end, resolution)
            ],
        )

    return await db.read(read)


def _sensor(conn: Connection, deployment: Deployment, sensor_id: str, department: str | None) -> Sensor:
    sensor = deployment.sensor_by_id.get(sensor_id)
    sites = visible_sites(conn, department)
    if sensor is None or (sites is not None and sensor.site not in sites):
        raise RecordNotFound(f"no sensor {sensor_id}")  # another site's: not found, as everywhere
    return sensor


@router.get(
    "/sensors", response_model=list[SensorView], tags=["sensors"], summary="Sensors, newest values, health"
)
async def list_sensors(db: Db, caller: Reader, services: ServicesDep) -> list[SensorView]:
    """Every sensor of the deployment the caller may see, in the order of the configuration: its
    metrics with unit, bounds and newest reading, and its last health change (online, offline)."""
    deployment = services.hub.config.deployment

    def read(conn: Connection) -> list[SensorView]:
        sites = visible_sites(conn, caller.department)
        sensors = [s for s in deployment.sensors if sites is None or s.site in sites]
        pairs = [(s.id, m) for s in sensors for m in s.metrics]
        latest = {
            (sensor, metric): LatestReading(time=time, value=value)
            for sensor, metric, time, value in conn.execute(
                """SELECT k.sensor, k.metric, r.time, r.value
                   FROM unnest(%s::text[], %s::text[]) AS k (sensor, metric)
                   CROSS JOIN LATERAL (SELECT time, value FROM readings
                                       WHERE sensor = k.sensor AND metric = k.metric
                                       ORDER BY time DESC LIMIT 1) AS r""",
                ([p[0] for p in pairs], [p[1] for p in pairs]),
            ).fetchall()
        }
        health = latest_health(conn, "sensor", [s.id for s in sensors])
        return [
            SensorView(
                id=s.id,
                name=s.name,
                site=s.site,
                kind=s.kind,
                interval=s.interval,
                metrics=[
                    SensorMetric(
                        name=name, unit=m.unit, min=m.min, max=m.max, latest=latest.get((s.id, name))
                    )
                    for name, m in s.metrics.items()
                ],
                health=DeviceStatus.of(health[s.id]) if s.id in health else None,
            )
            for s in sensors
        ]

    return await db.read(read)


@router.get(
    "/sensors/{sensor_id}/readings",
    response_model=SensorCurve,
    tags=["sensors"],
    responses=NOT_FOUND,
    summary="A sensor metric over a range, raw or in buckets",
)
async def sensor_readings(
    db: Db,
    caller: Reader,
    services: ServicesDep,
    sensor_id: Annotated[str, Path(max_length=63)],
    metric: Annotated[
        str | None, Query(max_length=63, description="Default: the sensor's first metric")
    ] = None,
    start: Annotated[AwareDatetime | None, Query(description="Default: 24 hours before `end`")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
    resolution: Annotated[
        Literal["auto", "raw", "1m", "1h"],
        Query(description="auto: raw up to 1 hour, 1-minute buckets up to 12 hours, hourly beyond"),
    ] = "auto",
) -> SensorCurve:
    """The readings of `metric` in [start, end): each reading (raw: mean = min = max) or the mean,
    least and greatest per minute or hour, oldest first, from the rollups topped up with fresh
    readings. 422 naming the parameter for a bad range, an unknown metric or more raw readings
    than one answer carries; 404 for a sensor the caller may not see."""
    deployment = services.hub.config.deployment
    start, end = time_range(start, end, services.now(), DEFAULT_RANGE, WIDEST)
    chosen: Literal["raw", "1m", "1h"] = (
        ("raw" if end - start <= RAW_UNTIL else resolution_for(start, end))
        if resolution == "auto"
        else resolution
    )

    def read(conn: Connection) -> SensorCurve:
        sensor = _sensor(conn, deployment, sensor_id, caller.department)
        name = metric or next(iter(sensor.metrics))
        if name not in sensor.metrics:
            known = ", ".join(sensor.metrics)
            raise unprocessable(
                ["query", "metric"], f"sensor {sensor.id} has no metric {name} (it has: {known})"
            )
        if chosen == "raw":
            rows = raw_readings(conn, sensor.id, name, start, end, MOST_RAW + 1)
            if len(rows) > MOST_RAW:
                raise unprocessable(
                    ["query", "resolution"],
                    f"more than {MOST_RAW} readings in the range:"
                    " ask for resolution 1m or 1h, or a shorter range",
                )
            points = [CurvePoint(time=t, mean=v, min=v, max=v) for t, v in rows]
            first = start
        else:
            first = bucket_of(start, chosen)
            points = [
                CurvePoint.model_validate(b) for b in buckets(conn, sensor.id, name, first, end, chosen)
            ]
        return SensorCurve(
            sensor=sensor.id,
            sensor_name=sensor.name,
            metric=name,
            unit=sensor.metrics[name].unit,
            start=first,
            end=end,
            resolution=chosen,
            points=points,
        )

    return await db.read(read)
