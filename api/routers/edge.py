"""What only an edge box calls: its config, its heartbeat, and evidence made after its event (a
clip); and the boxes' state and findings for the hub's staff.

The box's calls are bound to the edge token's site: a box reads its own site's part of the
deployment and speaks for its own site's cameras and events only.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response, status
from prometheus_client.core import GaugeHistogramMetricFamily
from pydantic import AwareDatetime, BaseModel, Field

from api.auth import Principal
from api.config_store import ConfigInvalid, active_version, validate
from api.deps import Db, ServicesDep, Staff, allow
from api.errors import forbidden
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.routers.config import _etag, _etags
from api.schemas import Body
from hub.config import Deployment, parse_config
from hub.config.edge import site_slice
from hub.events import Sha256
from hub.evidence import not_held
from hub.pipeline import Pipeline
from hub.store.db import Connection, Database
from hub.store.edge_boxes import (
    LAG_BUCKETS,
    DeliveryLag,
    Finding,
    FindingKind,
    Heartbeat,
    boxes,
    delivery_lag,
    findings,
    lag_histogram,
    store_heartbeat,
)
from hub.wording import Language
from hub.workflow import RecordNotFound

router = APIRouter(prefix="/edge", tags=["edge"], responses=AUTH_RESPONSES)
EdgeBox = Annotated[Principal, Depends(allow("edge"))]
Short = Annotated[str, Field(min_length=1, max_length=200)]
IfNoneMatch = Annotated[
    str | None, Header(max_length=2000, description="The ETag of the config the box runs: 304 when current")
]


class HeartbeatCreate(Body):
    """A box's report on itself, sent every few seconds."""

    site: Short = Field(description="The site the box serves: the edge token's")
    time: AwareDatetime = Field(description="The box's clock when it sent this")
    software: Short = Field(description="The box's offsite version")
    config_version: Short = Field(
        description="SHA-256 of the config the box runs: the ETag of GET /edge/config, or of its file"
    )
    outbox_depth: int = Field(ge=0, le=2**31 - 1, description="Events waiting in the box's outbox")
    outbox_age_s: float = Field(ge=0, le=10 * 365 * 86400, description="Seconds the oldest entry has waited")
    load_1m: float = Field(ge=0, le=1e6, description="The box's 1-minute load average")
    memory_free_bytes: int = Field(ge=0, le=2**62, description="Memory free on the box (caches aside)")
    disk_free_bytes: int = Field(ge=0, le=2**62, description="Disk free where the outbox lives")
    outbox_bytes: int = Field(ge=0, le=2**62, description="Disk the outbox holds")
    outbox_limit_bytes: int = Field(ge=0, le=2**62, description="Disk the outbox may hold")
    outbox_evicted: int = Field(
        ge=0,
        le=2**31 - 1,
        description="Evidence files, readings and batches of tracked detections evicted since the box"
        " started",
    )
    config_refused: str = Field(
        default="",
        max_length=2000,
        description="Why the box refused the newest config it pulled (it runs its last good one); empty"
        " when it runs the newest",
    )
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
    cameras = site_cameras(services.hub.config.deployment, site)
    for camera in beat.cameras:
        if camera not in cameras:
            raise forbidden(["body", "cameras", camera], f"camera {camera} is not a camera of site {site}")
    now = services.now()
    fields = beat.model_dump(exclude={"time", "cameras"})
    stored = Heartbeat(box=caller.name, seen_at=now, box_time=beat.time, cameras=dict(beat.cameras), **fields)
    changes = await db.run(store_heartbeat, stored, services.hub.config.deployment.edge)
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


def site_cameras(deployment: Deployment, site: str) -> set[str]:
    """The ids of `site`'s cameras: all an edge token of that site may speak for."""
    return {c.id for c in deployment.cameras if c.site == site}


# --- the site's part of the deployment --------------------------------------------------------
@router.get(
    "/config",
    summary="The site's part of the deployment in force",
    response_class=Response,
    responses={
        **NOT_FOUND,
        200: {
            "content": {"application/yaml": {"schema": {"type": "string"}}},
            "headers": {"ETag": {"description": "SHA-256 of the text, quoted", "schema": {"type": "string"}}},
        },
        304: {"description": "If-None-Match names the version in force: the box runs it already"},
    },
)
async def get_site_config(caller: EdgeBox, db: Db, if_none_match: IfNoneMatch = None) -> Response:
    """The deployment in force cut to the edge token's site (its cameras, zones, lines, sensors,
    rules; no routing, no outputs), as YAML text a box loads as it would a file. Its SHA-256 is the
    ETag; send it back in If-None-Match to be answered 304 while it holds."""
    text = await db.run(_site_config, str(caller.site))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    headers = {"ETag": _etag(digest), "Cache-Control": "no-cache"}
    if digest in (_etags(if_none_match) or set()):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(text, media_type="application/yaml", headers=headers)


def _site_config(conn: Connection, site: str) -> str:
    version = active_version(conn)
    if version is None:
        raise RecordNotFound("no deployment loaded yet: start the hub with `offsite up -c FILE`")
    deployment = parse_config(version.text, f"config {version.sha256}")
    try:
        text, _ = validate(site_slice(version.document(), deployment, site))
    except ConfigInvalid as exc:  # a cut the hub cannot load itself is the hub's fault, not the box's
        problems = "; ".join(str(p) for p in exc.problems[:5])
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR, f"the part of site {site} does not load: {problems}"
        ) from None
    return text


# --- the boxes, for the hub's staff -----------------------------------------------------------
FINDING_TITLES: dict[Language, dict[FindingKind, str]] = {
    "zh": {
        "edge_offline": "边缘盒离线",
        "clock_skew": "边缘盒时钟偏差",
        "outbox_evicting": "边缘盒缓存将满或正在清除证据",
        "config_refused": "边缘盒拒绝新配置",
    },
    "en": {
        "edge_offline": "edge box offline",
        "clock_skew": "edge box clock skew",
        "outbox_evicting": "edge box outbox nearly full or evicting evidence",
        "config_refused": "edge box refused the new config",
    },
}


class FindingPublic(BaseModel):
    kind: FindingKind
    title: str = Field(description="The finding for a person, in the deployment's language")
    raised_at: AwareDatetime
    cleared_at: AwareDatetime | None
    detail: str


class BoxPublic(BaseModel):
    """An edge box as its last heartbeat left it, with its open findings."""

    box: str = Field(description="The name of the box's edge token")
    site: str
    seen_at: AwareDatetime = Field(description="The hub's clock when the last heartbeat arrived")
    clock_skew_s: float = Field(
        description="How far the box's clock was ahead of the hub's (negative: behind)"
    )
    software: str
    config_version: str
    load_1m: float
    memory_free_bytes: int
    disk_free_bytes: int
    outbox_depth: int
    outbox_age_s: float
    outbox_bytes: int
    outbox_limit_bytes: int
    outbox_evicted: int
    config_refused: str
    cameras: dict[str, str]
    findings: list[FindingPublic] = Field(description="Open findings, newest first")


@router.get("/boxes", response_model=list[BoxPublic], summary="The edge boxes and their findings")
async def list_boxes(
    caller: Staff, db: Db, services: ServicesDep, site: Annotated[str | None, Query(max_length=200)] = None
) -> list[BoxPublic]:
    """Every box that sent a heartbeat (of `site`), with the findings the hub holds open about it:
    `edge_offline`, `clock_skew`, `outbox_evicting`, `config_refused`."""
    beats, open_findings = await db.run(_boxes, site)
    titles = FINDING_TITLES[services.hub.config.deployment.language]
    by_box: dict[str, list[FindingPublic]] = {}
    for f in open_findings:
        public = FindingPublic(
            kind=f.kind, title=titles[f.kind], raised_at=f.raised_at, cleared_at=f.cleared_at, detail=f.detail
        )
        by_box.setdefault(f.box, []).append(public)
    return [
        BoxPublic(
            **{k: v for k, v in asdict(b).items() if k != "box_time"},
            clock_skew_s=b.skew.total_seconds(),
            findings=by_box.get(b.box, []),
        )
        for b in beats
    ]


def _boxes(conn: Connection, site: str | None) -> tuple[list[Heartbeat], list[Finding]]:
    return boxes(conn, site), findings(conn, site)


class DeliveryLagPublic(BaseModel):
    """How late a site's events reached the hub: received time minus the event's own time."""

    site: str
    events: int = Field(description="Events received in the window")
    late: int = Field(
        description="Of them, received more than the deployment's edge.late_after after they happened"
    )
    p50_s: float = Field(description="Median delay in seconds")
    p95_s: float = Field(description="95th percentile of the delay in seconds")
    max_s: float = Field(description="Longest delay in seconds")


@router.get("/lag", response_model=list[DeliveryLagPublic], summary="How late the sites' events arrived")
async def get_delivery_lag(
    caller: Staff,
    db: Db,
    services: ServicesDep,
    site: Annotated[str | None, Query(max_length=200)] = None,
    hours: Annotated[
        float, Query(gt=0, le=24 * 31, description="The window: events received in the last hours")
    ] = 1.0,
) -> list[DeliveryLagPublic]:
    """Per site, the events received in the window and how late they came: a box catching up after
    an outage shows here, its events counted late rather than as if they had just happened."""
    since = services.now() - timedelta(hours=hours)
    late_after = services.hub.config.deployment.edge.late_after
    lags: list[DeliveryLag] = await db.run(delivery_lag, since, late_after, site)
    return [DeliveryLagPublic(**asdict(lag)) for lag in lags]


def delivery_lag_metric(db: Database, now: datetime) -> GaugeHistogramMetricFamily:
    """For /metrics: how late the events received in the last hour came, per site. A gauge
    histogram (a window read from the events at each scrape), so that several API processes, or
    one restarted, show the same."""
    family = GaugeHistogramMetricFamily(
        "offsite_edge_delivery_lag_seconds",
        "Received time minus event time of the events received in the last hour, per site",
        labels=["site"],
    )
    with db.transaction() as conn:
        rows = lag_histogram(conn, now - timedelta(hours=1))
    for site, under, count, total in rows:
        buckets = [(f"{bound:g}", float(n)) for bound, n in zip(LAG_BUCKETS, under, strict=True)]
        family.add_metric([site], [*buckets, ("+Inf", float(count))], total)
    return family
