"""Evidence files by SHA-256: upload with the hash claimed, download where the caller may see it."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Request, Response, status

from api.deps import Db, Reader, ServicesDep, Uploader
from api.errors import unprocessable
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.schemas import EvidencePublic
from hub.evidence import SERVED_TYPES, EvidenceError, EvidenceStore, served_type
from hub.store.db import Connection
from hub.workflow import RecordNotFound

router = APIRouter(prefix="/evidence", tags=["evidence"], responses=AUTH_RESPONSES)
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower-case hex")]
MediaType = Annotated[str, Header(max_length=200, pattern=r"^[\w.+-]+/[\w.+-]+(;[^\x00]*)?$")]

# What a department may download: evidence of its own clues and of the alerts behind them.
_DEPARTMENT_MAY_SEE = (
    "SELECT 1 FROM risk_clues c LEFT JOIN alerts a ON a.id = c.alert_id WHERE c.department = %(dept)s"
    " AND (%(h)s = ANY(c.evidence) OR %(h)s = ANY(c.feedback_evidence) OR %(h)s = ANY(a.evidence)) LIMIT 1"
)


@router.put(
    "/{sha256}",
    response_model=EvidencePublic,
    summary="Upload an evidence file",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses={422: {"description": "The body does not hash to the SHA-256 in the path"}},
)
async def put_evidence(
    sha256: Digest,
    request: Request,
    db: Db,
    services: ServicesDep,
    caller: Uploader,
    content_type: MediaType = "application/octet-stream",
) -> EvidencePublic:
    """The raw bytes as the body; the server hashes them and refuses a mismatch. Idempotent."""
    data = await request.body()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise unprocessable(["path", "sha256"], f"the body hashes to {actual}, not to the claimed {sha256}")
    await db.run(services.hub.evidence.register, data, content_type, caller.site)
    return EvidencePublic(sha256=sha256, size=len(data), media_type=content_type, link=f"/evidence/{sha256}")


# Evidence is whatever an uploader sent: never let a browser run it as a page of the hub's origin.
_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-cache",
}
_SUFFIX = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4", "application/pdf": "pdf"}


@router.get(
    "/{sha256}",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {
            "content": {media: {} for media in ("application/octet-stream", *sorted(SERVED_TYPES))},
            "description": "The file, typed by its content (JPEG, PNG, MP4, PDF); anything else as an"
            " `application/octet-stream` attachment",
        },
    },
    summary="Download an evidence file",
)
async def get_evidence(sha256: Digest, db: Db, caller: Reader, services: ServicesDep) -> Response:
    """The file, checked against its hash. A department gets only the evidence behind its clues."""
    data = await db.run(_evidence, sha256, caller.department, services.hub.evidence)
    return Response(data, status.HTTP_200_OK, headers=evidence_headers(sha256, data))


def evidence_headers(sha256: str, data: bytes) -> dict[str, str]:
    """Headers that serve the bytes as what they are, whatever type the uploader claimed."""
    media_type = served_type(data)
    if media_type is None:
        media_type, disposition = "application/octet-stream", f'attachment; filename="{sha256}.bin"'
    else:
        disposition = f'inline; filename="{sha256}.{_SUFFIX[media_type]}"'
    return {
        **_SAFE_HEADERS,
        "Content-Type": media_type,
        "Content-Disposition": disposition,
        "ETag": f'"{sha256}"',
    }


def _evidence(conn: Connection, sha256: str, department: str | None, store: EvidenceStore) -> bytes:
    """The file, where the department (None: anyone) may see it."""
    if department is not None and (
        conn.execute(_DEPARTMENT_MAY_SEE, {"dept": department, "h": sha256}).fetchone() is None
    ):
        raise RecordNotFound(f"no evidence {sha256}")
    row = conn.execute("SELECT 1 FROM evidence WHERE sha256 = %s", (sha256,)).fetchone()
    if row is None or not store.exists(sha256):
        raise RecordNotFound(f"no evidence {sha256}")
    try:
        return store.read(sha256)
    except EvidenceError as exc:  # the file changed on disk: say so loudly, never serve it
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from None
