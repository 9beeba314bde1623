"""Sensor curves: the readings around a sensor alert, from the rollups, with the rule's limits."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from api.deps import Db, Reader, ServicesDep
from api.readings import bucket_of, buckets, resolution_for
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.schemas import AlertCurve, CurvePoint, RecordId
from hub import alerts
from hub.config.rules import SensorRule, Threshold
from hub.store.db import Connection
from hub.workflow import RecordNotFound

router = APIRouter(tags=["alerts"], responses=AUTH_RESPONSES)
MARGIN = timedelta(minutes=30)  # drawn before the alert began and after it ended
LONGEST = timedelta(days=7)  # of an alert still going on: the curve shows its last week


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
