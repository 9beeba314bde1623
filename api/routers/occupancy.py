"""How busy a camera's picture was: distinct tracks per label minute by minute, and how long each
track stayed (GET /cameras/{id}/occupancy), from the tracked detections the analysis samples into
the `detections` table (one row per track every `vision.detections_every` seconds).

Like the sensors: a department sees the cameras of the sites its clues come from; staff see all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import Db, Reader, ServicesDep
from api.errors import unprocessable
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.scope import time_range, visible_sites
from hub.store.db import Connection
from hub.store.detections import dwell, occupancy
from hub.workflow import RecordNotFound

router = APIRouter(tags=["cameras"], responses=AUTH_RESPONSES)
DEFAULT_RANGE = timedelta(hours=1)
WIDEST = timedelta(days=7)  # the longest range one answer covers
MOST_TRACKS = 10_000  # stays one answer lists


class MinuteOccupancy(BaseModel):
    """The distinct tracks of one label a camera saw in one minute."""

    minute: datetime = Field(description="The minute's beginning, in the deployment's time zone")
    label: str = Field(description="Domain label (person, car...)")
    tracks: int = Field(description="Distinct tracks of the label seen in the minute")


class TrackStay(BaseModel):
    """One track's stay in the range: from its first sampled moment to its last."""

    track: int = Field(description="The tracker's id (per camera, restarts with the analysis)")
    label: str
    first: datetime = Field(description="First sampled moment in the range")
    last: datetime = Field(description="Last sampled moment in the range")
    dwell_s: float = Field(description="Seconds from first to last (0: sampled once)")
    samples: int = Field(description="Rows the track left in the range")


class Occupancy(BaseModel):
    """A camera's occupancy over [start, end)."""

    camera: str
    camera_name: str
    start: datetime
    end: datetime
    sample_every: float = Field(description="vision.detections_every: seconds between a track's rows")
    minutes: list[MinuteOccupancy] = Field(description="Oldest first; minutes with nobody are left out")
    tracks: list[TrackStay] = Field(description="Stays in order of arrival")


@router.get(
    "/cameras/{camera_id}/occupancy",
    response_model=Occupancy,
    responses=NOT_FOUND,
    summary="Distinct tracks per minute and each track's dwell",
)
async def camera_occupancy(
    db: Db,
    caller: Reader,
    services: ServicesDep,
    camera_id: Annotated[str, Path(max_length=63)],
    start: Annotated[AwareDatetime | None, Query(description="Default: 1 hour before `end`")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Default: now")] = None,
) -> Occupancy:
    """Per minute of [start, end) and label, the distinct tracks the camera saw; per stay, its
    track's first and last sampled moment (dwell): a track id seen again after a gap longer than
    the sampling allows (the analysis restarted and numbered afresh) is another stay. 422 naming
    the parameter for a bad range or more than 10,000 stays; 404 for a camera the caller may not
    see."""
    deployment = services.hub.config.deployment
    start, end = time_range(start, end, services.now(), DEFAULT_RANGE, WIDEST)
    tz = deployment.tz
    # A live track leaves a row every `detections_every`, or after a spell unseen up to the
    # tracker's `lost_after`: a longer gap is another stay under a reused id.
    settings = deployment.vision
    gap = timedelta(seconds=2 * settings.detections_every + settings.tracking.lost_after)

    def read(conn: Connection) -> Occupancy:
        camera = next((c for c in deployment.cameras if c.id == camera_id), None)
        sites = visible_sites(conn, caller.department)
        if camera is None or (sites is not None and camera.site not in sites):
            raise RecordNotFound(f"no camera {camera_id}")  # another site's: not found, as everywhere
        stays = dwell(conn, camera.id, start, end, gap, MOST_TRACKS + 1)
        if len(stays) > MOST_TRACKS:
            raise unprocessable(["query", "start"], f"more than {MOST_TRACKS} stays in the range: shorten it")
        return Occupancy(
            camera=camera.id,
            camera_name=camera.name,
            start=start.astimezone(tz),
            end=end.astimezone(tz),
            sample_every=deployment.vision.detections_every,
            minutes=[
                MinuteOccupancy(minute=m.minute.astimezone(tz), label=m.label, tracks=m.tracks)
                for m in occupancy(conn, camera.id, start, end)
            ],
            tracks=[
                TrackStay(
                    track=s.track_id,
                    label=s.label,
                    first=s.first.astimezone(tz),
                    last=s.last.astimezone(tz),
                    dwell_s=(s.last - s.first).total_seconds(),
                    samples=s.samples,
                )
                for s in stays
            ],
        )

    return await db.read(read)
