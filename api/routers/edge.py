"""What only an edge box calls: its heartbeat, and evidence made after its event (a clip).

Both are bound to the edge token's site: a box speaks for its own site's cameras and events only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import AwareDatetime, Field

from api.auth import Principal
from api.deps import Db, ServicesDep, allow
from api.errors import forbidden
from api.routers import AUTH_RESPONSES
from api.schemas import Body
from hub.config import Deployment
from hub.events import Sha256
from hub.evidence import not_held
from hub.pipeline import Pipeline
from hub.store.db import Connection
from hub.store.edge_boxes import Heartbeat, store_heartbeat
from hub.workflow import RecordNotFound

router = APIRouter(prefix="/edge", tags=["edge"], responses=AUTH_RESPONSES)
EdgeBox = Annotated[Principal, Depends(allow("edge"))]
Short = Annotated[str, Field(min_length=1, max_length=200)]


class HeartbeatCreate(Body):
    """A box's report on itself, sent every few seconds."""

    site: Short = Field(description="The site the box serves: the edge token's")
    time: AwareDatetime = Field(description="The box's clock when it sent this")
    software: Short = Field(description="The box's offsite version")
    config_version: Short = Field(description="SHA-256 of the deployment file the box runs")
    outbox_depth: int = Field(ge=0, le=2**31 - 1, description="Events waiting in the box's outbox")
    outbox_age_s: float = Field(ge=0, le=10 * 365 * 86400, description="Seconds the oldest entry has waited")
    cameras: dict[Short, Short] = Field(
        default_factory=dict, max_length=1000, description="Each camera of the box -> its status"
    )


class HeartbeatTaken(Body):
    box: str
    seen_at: AwareDatetime
    camera_changes: int = Field(description="Cameras whose status changed since the last heartbeat")


class AttachmentCreate(Body):
    """Evidence made after its event (a clip cut once its last seconds were filmed)."""

    event_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\w.:@-]+$")]
    evidence: list[Sha256] = Field(min_length=1, max_length=100)


@router.post("/heartbeat", response_model=HeartbeatTaken, summary="Report an edge box's health")
async def post_heartbeat(
    beat: HeartbeatCreate, caller: EdgeBox, db: Db, services: ServicesDep
) -> HeartbeatTaken:
    """Kept as the box's last heartbeat; its cameras must be cameras of the token's site."""
    site = str(caller.site)
    if beat.site != site:
        raise forbidden(["body", "site"], f"this edge token reports for site {site}, not {beat.site}")
    cameras = _site_cameras(services.hub.config.deployment, site)
    for camera in beat.cameras:
        if camera not in cameras:
            raise forbidden(["body", "cameras", camera], f"camera {camera} is not a camera of site {site}")
    now = services.now()
    stored = Heartbeat(
        box=caller.name,
        site=site,
        seen_at=now,
        box_time=beat.time,
        software=beat.software,
        config_version=beat.config_version,
        outbox_depth=beat.outbox_depth,
        outbox_age_s=beat.outbox_age_s,
        cameras=dict(beat.cameras),
    )
    changes = await db.run(store_heartbeat, stored)
    return HeartbeatTaken(box=caller.name, seen_at=now, camera_changes=len(changes))


@router.post(
    "/attachments",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Add evidence to an event already sent",
    responses={404: {"description": "No such event of the token's site"}},
)
async def post_attachment(body: AttachmentCreate, caller: EdgeBox, db: Db, services: ServicesDep) -> None:
    """The event must be of the token's site and the evidence uploaded by a box of that site."""
    await db.run(_attach, services.hub.pipeline, body, caller)


def _attach(conn: Connection, pipeline: Pipeline, body: AttachmentCreate, caller: Principal) -> None:
    row = conn.execute("SELECT site FROM events WHERE id = %s", (body.event_id,)).fetchone()
    if row is None or row[0] != caller.site:
        raise RecordNotFound(f"no event {body.event_id} of site {caller.site}")
    missing = not_held(conn, str(caller.site), list(body.evidence))
    if missing:
        raise forbidden(
            ["body", "evidence", list(body.evidence).index(missing[0])],
            f"evidence {missing[0]} was not uploaded by an edge box of site {caller.site}",
        )
    pipeline.attach(conn, body.event_id, list(body.evidence), caller.actor)


def _site_cameras(deployment: Deployment, site: str) -> set[str]:
    return {c.id for c in deployment.cameras if c.site == site}
