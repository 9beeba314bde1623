"""An edge box's analysed frames for the hub's camera wall (POST /edge/frames): the box's analysis
hands one per camera every `vision.frame_every` seconds, as the hub's own does, and the box sends
it here. Bound to the edge token's site like the box's other calls.

The body is the JPEG itself (`Content-Type: image/jpeg`, at most the API's `max_body`); the camera
and the moment go in the query. The picture's size is read from the JPEG, not taken on trust.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from PIL import JpegImagePlugin
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import Db, ServicesDep
from api.errors import forbidden, unprocessable
from api.routers import AUTH_RESPONSES
from api.routers.edge import EdgeBox, site_cameras
from hub.events import EARLIEST
from hub.pipeline import MAX_CLOCK_SKEW
from hub.store.camera_frames import CameraFrame, store_frame

router = APIRouter(prefix="/edge", tags=["edge"], responses=AUTH_RESPONSES)
LARGEST_SIDE = 4096  # pixels: a wall picture is about 640 across; more is a box sending raw frames


class FrameTaken(BaseModel):
    camera: str
    time: datetime
    width: int
    height: int
    kept: bool = Field(description="False when the hub already holds a newer frame of the camera")


@router.post(
    "/frames",
    response_model=FrameTaken,
    summary="An edge box's latest analysed frame of one of its cameras",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={422: {"description": "Not a JPEG, too large a picture, or a time out of range"}},
)
async def post_frame(
    request: Request,
    caller: EdgeBox,
    db: Db,
    services: ServicesDep,
    camera: Annotated[str, Query(min_length=1, max_length=63, description="A camera of the token's site")],
    time: Annotated[AwareDatetime, Query(description="When the frame was taken (the box's clock)")],
) -> FrameTaken:
    """Kept as the camera's latest frame (GET /cameras/{id}/frame) unless the hub holds a newer
    one. 403 naming `camera` for a camera not of the token's site; 422 naming the field for a
    body that is not a JPEG, a picture over 4096 pixels on a side, or a time before 2000 or ahead
    of the hub's clock."""
    site = str(caller.site)
    deployment = services.hub.config.deployment
    if camera not in site_cameras(deployment, site):
        raise forbidden(["query", "camera"], f"camera {camera} is not a camera of site {site}")
    if time < EARLIEST or time > services.now() + MAX_CLOCK_SKEW:
        raise unprocessable(
            ["query", "time"],
            f"{time.isoformat()} is before 2000 or ahead of the hub's clock: check the box's clock",
        )
    data = await request.body()
    width, height = _jpeg_size(data)
    shot = CameraFrame(camera, time.astimezone(UTC), data, width, height)
    kept = await db.run(store_frame, shot)
    return FrameTaken(camera=camera, time=time, width=width, height=height, kept=kept)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """The JPEG's width and height from its header; 422 naming the body when it is not one."""
    try:
        # The JPEG reader itself, not Image.open, which a library may have patched in this
        # process (ultralytics' reaches for a HEIF plugin on anything it cannot identify).
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as picture:
            width, height = picture.size
    except (SyntaxError, OSError, ValueError) as exc:  # Pillow says "not a JPEG file" as SyntaxError
        raise unprocessable(["body"], f"the body is not a JPEG picture ({len(data)} bytes): {exc}") from exc
    if not (0 < width <= LARGEST_SIDE and 0 < height <= LARGEST_SIDE):
        raise unprocessable(
            ["body"], f"a {width} x {height} picture: the wall takes at most {LARGEST_SIDE} pixels a side"
        )
    return width, height
