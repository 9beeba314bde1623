"""Cameras for the duty platform's wall: each camera's health, its latest analysed snapshot and
how many findings it raised today. Read only. The store keeps no frames, only evidence, so the
snapshot is the newest picture it holds: the annotated evidence of the camera's newest alert."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Db, ServicesDep, Staff
from api.routers import AUTH_RESPONSES, evidence_links
from api.schemas import DeviceStatus
from hub.store.db import Connection
from hub.store.device_health import latest_health

router = APIRouter(tags=["cameras"], responses=AUTH_RESPONSES)


class Snapshot(BaseModel):
    """The newest picture of a camera the hub holds."""

    alert_id: int = Field(description="The alert whose evidence it is")
    taken_at: datetime = Field(description="When that alert was last seen")
    link: str = Field(description="Where to download the picture")


class CameraView(BaseModel):
    """A camera of the deployment as the duty platform's wall shows it."""

    id: str
    name: str
    site: str
    health: DeviceStatus | None = Field(
        description="The last status change (online, reconnecting, frozen, offline); null before the first"
    )
    snapshot: Snapshot | None = Field(description="Null while no alert of the camera carries a picture")
    findings_today: int = Field(description="Alerts the camera began since midnight in the deployment's zone")


# Per camera: the last health change; the newest alert with a picture among its evidence (the
# first picture of it); and its alerts since local midnight. Each reads one index range.
_SNAPSHOT = """
SELECT k.source, s.id, s.last_seen, s.sha256
FROM unnest(%s::text[]) AS k (source)
CROSS JOIN LATERAL (SELECT a.id, a.last_seen, x.sha256
                    FROM alerts a
                    CROSS JOIN LATERAL unnest(a.evidence) WITH ORDINALITY AS x (sha256, n)
                    JOIN evidence e ON e.sha256 = x.sha256 AND e.media_type LIKE 'image/%%'
                    WHERE a.source = k.source
                    ORDER BY a.first_seen DESC, a.id DESC, x.n LIMIT 1) AS s"""
_TODAY = """
SELECT source, count(*) FROM alerts
WHERE source = ANY(%s::text[]) AND first_seen >= %s GROUP BY source"""


@router.get("/cameras", response_model=list[CameraView], summary="Cameras, health, latest snapshot")
async def list_cameras(db: Db, caller: Staff, services: ServicesDep) -> list[CameraView]:
    """Every camera of the deployment in the order of the configuration, with its last health
    change, the newest picture among its alerts' evidence and its findings today. The duty
    platform's: a department sees its clues' evidence through the clues instead."""
    deployment = services.hub.config.deployment
    cameras = deployment.cameras
    zone = ZoneInfo(deployment.timezone)
    midnight = services.now().astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)

    def read(conn: Connection) -> list[CameraView]:
        ids = [c.id for c in cameras]
        sources = [f"camera:{c.id}" for c in cameras]
        health = {
            device: DeviceStatus.of(change) for device, change in latest_health(conn, "camera", ids).items()
        }
        snapshots = {
            source: Snapshot(alert_id=alert_id, taken_at=seen, link=evidence_links([sha256])[0])
            for source, alert_id, seen, sha256 in conn.execute(_SNAPSHOT, (sources,)).fetchall()
        }
        today: dict[str, int] = dict(conn.execute(_TODAY, (sources, midnight)).fetchall())
        return [
            CameraView(
                id=c.id,
                name=c.name,
                site=c.site,
                health=health.get(c.id),
                snapshot=snapshots.get(f"camera:{c.id}"),
                findings_today=today.get(f"camera:{c.id}", 0),
            )
            for c in cameras
        ]

    return await db.read(read)
