"""The tracked detections an edge box sampled (`vision.sink.DetectionSampler`), forwarded in batches
from its outbox into the `detections` table, so that a box's cameras have occupancy and dwell
(`GET /cameras/{id}/occupancy`) as the hub's own have.

Bound to the edge token's site: a box speaks for its own site's cameras only. A batch the box
sends again (its request timed out after the hub stored it) is stored once: a row is one track's
box at one moment on one camera, and a row the table holds already is left out. Batches of one
site are taken one at a time (a transaction-scoped advisory lock), so that two deliveries of the
same batch racing each other cannot both find it new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import AwareDatetime, Field

from api.deps import Db, ServicesDep
from api.errors import forbidden, unprocessable
from api.routers import AUTH_RESPONSES
from api.routers.edge import EdgeBox, site_cameras
from api.schemas import Body
from hub.events import EARLIEST
from hub.pipeline import MAX_CLOCK_SKEW
from hub.store.db import Connection
from hub.store.detections import DetectionRow, write_detections

router = APIRouter(prefix="/edge", tags=["edge"], responses=AUTH_RESPONSES)
MAX_BATCH = 5000  # rows per request: a box sends a few seconds' worth, a catching-up one more batches
Coordinate = Annotated[float, Field(ge=-1e5, le=1e5, description="Pixels")]


class DetectionCreate(Body):
    """One tracked object at one moment on one camera, as the box's sampler took it."""

    time: AwareDatetime = Field(description="The frame's time, with timezone")
    camera: Annotated[str, Field(min_length=1, max_length=200)] = Field(description="A camera of the site")
    label: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The object's label in the deployment's classes (person, car ...)"
    )
    confidence: float = Field(ge=0, le=1, description="The detector's confidence")
    box: tuple[Coordinate, Coordinate, Coordinate, Coordinate] = Field(description="x1, y1, x2, y2 in pixels")
    track_id: int = Field(ge=0, le=2**62, description="The tracker's id of the object on this camera")


class DetectionsCreate(Body):
    detections: list[DetectionCreate] = Field(min_length=1, max_length=MAX_BATCH)


class DetectionsTaken(Body):
    stored: int = Field(description="Rows stored by this request")
    duplicates: int = Field(description="Rows the hub held already (a batch sent again): left out")


@router.post(
    "/detections",
    response_model=DetectionsTaken,
    summary="Store tracked detections an edge box sampled",
    responses={403: {"description": "A row names a camera of another site"}},
)
async def post_detections(
    body: DetectionsCreate, caller: EdgeBox, db: Db, services: ServicesDep
) -> DetectionsTaken:
    """Rows of the token's site's cameras, each at most a few minutes ahead of the hub's clock;
    a row the hub holds already is counted as a duplicate, not stored twice."""
    site = str(caller.site)
    cameras = site_cameras(services.hub.config.deployment, site)
    latest = services.now() + MAX_CLOCK_SKEW
    for n, d in enumerate(body.detections):
        if d.camera not in cameras:
            raise forbidden(
                ["body", "detections", n, "camera"], f"camera {d.camera} is not a camera of site {site}"
            )
        if not EARLIEST <= d.time <= latest:
            raise unprocessable(
                ["body", "detections", n, "time"],
                f"{d.time.isoformat()} is before 2000 or more than {MAX_CLOCK_SKEW.total_seconds():.0f} s"
                " ahead of the hub's clock; check the box's clock",
                "time_window",
            )
    rows = [DetectionRow(d.time, d.camera, d.label, d.confidence, d.box, d.track_id) for d in body.detections]
    stored = await db.run(store_new, site, rows)
    return DetectionsTaken(stored=stored, duplicates=len(rows) - stored)


def store_new(conn: Connection, site: str, rows: list[DetectionRow]) -> int:
    """Write the rows of `rows` the table does not hold yet (by camera, time and track); how many."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"edge-detections:{site}",))
    held = {
        (str(camera), at, int(track))
        for camera, at, track in conn.execute(
            """SELECT d.camera, d.time, d.track_id
               FROM detections d
               JOIN unnest(%(cameras)s::text[], %(times)s::timestamptz[], %(tracks)s::bigint[])
                    AS n(camera, time, track_id)
                 ON d.camera = n.camera AND d.time = n.time AND d.track_id = n.track_id
               WHERE d.time >= %(first)s AND d.time <= %(last)s""",
            {
                "cameras": [r.camera for r in rows],
                "times": [r.time for r in rows],
                "tracks": [r.track_id for r in rows],
                "first": min(r.time for r in rows),
                "last": max(r.time for r in rows),
            },
        ).fetchall()
    }
    fresh: dict[tuple[str, datetime, int], DetectionRow] = {}
    for r in rows:
        key = (r.camera, r.time, r.track_id)
        if key not in held:
            fresh.setdefault(key, r)  # a row twice in one batch is one row
    return write_detections(conn, list(fresh.values()))
