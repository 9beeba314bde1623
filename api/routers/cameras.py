"""Cameras for the duty platform's wall: each camera's health, its latest analysed frame (kept by
the analysis every `vision.frame_every` seconds, GET /cameras/{id}/frame), the annotated evidence of
its newest alert, and how many findings it raised today. Read only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Header, Path, Response
from pydantic import BaseModel, Field

from api.deps import Db, ServicesDep, Staff
from api.routers import AUTH_RESPONSES, NOT_FOUND, evidence_links
from api.schemas import DeviceStatus
from hub.store.camera_frames import frame, frame_times
from hub.store.db import Connection
from hub.store.device_health import latest_health
from hub.workflow import RecordNotFound

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
    frame_at: datetime | None = Field(
        description="When the latest analysed frame (GET /cameras/{id}/frame) was taken; null before one"
    )
    frame_stale: bool = Field(
        description="The latest frame is older than three periods of vision.frame_every: the analysis "
        "of the camera has stopped handing frames (or none came yet)"
    )
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
    now = services.now()
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    fresh = timedelta(seconds=3 * deployment.vision.frame_every)

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
        framed = frame_times(conn, ids)
        return [
            CameraView(
                id=c.id,
                name=c.name,
                site=c.site,
                health=health.get(c.id),
                snapshot=snapshots.get(f"camera:{c.id}"),
                findings_today=today.get(f"camera:{c.id}", 0),
                frame_at=framed[c.id].astimezone(zone) if c.id in framed else None,
                frame_stale=c.id not in framed or now - framed[c.id] > fresh,
            )
            for c in cameras
        ]

    return await db.read(read)


@router.get(
    "/cameras/{camera_id}/frame",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {"content": {"image/jpeg": {}}, "description": "The frame, at most 640 pixels across"},
        304: {"description": "The frame named in If-None-Match is still the latest"},
    },
    summary="A camera's latest analysed frame",
)
async def camera_frame(
    db: Db,
    caller: Staff,
    services: ServicesDep,
    camera_id: Annotated[str, Path(max_length=63)],
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Response:
    """The newest frame the analysis (the hub's, or an edge box's) kept of the camera, scaled
    down, with its tracked boxes, zones and lines drawn; renewed every `vision.frame_every`
    seconds. The ETag names the frame: a wall asking again with If-None-Match gets 304 until a new
    one is kept. 404 for a camera not in the deployment or with no frame yet."""
    deployment = services.hub.config.deployment
    if not any(c.id == camera_id for c in deployment.cameras):
        raise RecordNotFound(f"no camera {camera_id}")
    shot = await db.read(frame, camera_id)
    if shot is None:
        raise RecordNotFound(
            f"no frame of camera {camera_id} yet: its analysis keeps one every "
            f"{deployment.vision.frame_every:g} s (vision.frame_every) once it runs"
        )
    tag = f'"{shot.time.timestamp():.6f}"'
    headers = {
        "ETag": tag,
        "Last-Modified": format_datetime(shot.time.astimezone(UTC), usegmt=True),
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Time": shot.time.astimezone(deployment.tz).isoformat(),
    }
    if if_none_match is not None and tag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(shot.jpeg, media_type="image/jpeg", headers=headers)
