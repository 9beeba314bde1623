"""Supervised objects graded by risk (GET /objects/risk), as JSON or as CSV for a double-random
inspection (双随机) system to take as sampling weights."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import Db, Reader, ServicesDep
from api.routers import AUTH_RESPONSES
from hub.risk import ObjectRisk, object_risks

router = APIRouter(prefix="/objects", tags=["objects"], responses=AUTH_RESPONSES)
COLUMNS = (
    "credit_code", "name", "industry", "grade", "label", "weight", "score",
    "confirmed", "unconfirmed", "false_alarms", "last_finding", "reasons",
)  # fmt: skip


@router.get(
    "/risk",
    response_model=list[ObjectRisk],
    summary="Supervised objects by risk grade, riskiest first",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
async def get_object_risk(
    db: Db,
    caller: Reader,
    services: ServicesDep,
    format: Annotated[Literal["json", "csv"], Query(description="csv: one row per object, UTF-8")] = "json",
) -> list[ObjectRisk] | Response:
    """Each object's score from its findings (risk class weight, halved every half-life, half
    before the department's verdict, false alarms excluded; the deployment's `risk:`), its grade
    and sampling weight, and the rules behind the score. A department sees the objects its clues
    name."""
    deployment = services.hub.config.deployment
    now = services.now()
    risks = await db.read(object_risks, deployment, now, caller.department)
    if format == "json":
        return risks
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in risks:
        last = (
            r.last_finding.astimezone(deployment.tz).isoformat(timespec="seconds") if r.last_finding else ""
        )
        reasons = "; ".join(f"{s.name} x{s.confirmed + s.unconfirmed} ({s.score:g})" for s in r.reasons)
        computed = {"last_finding": last, "reasons": reasons}
        writer.writerow([computed[c] if c in computed else getattr(r, c) for c in COLUMNS])
    day = now.astimezone(deployment.tz).strftime("%Y%m%d")
    return Response(
        # with a byte-order mark, so that spreadsheet programs read the Chinese names as UTF-8
        content="\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="object-risk-{day}.csv"'},
    )
