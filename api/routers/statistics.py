"""Figures over a period (GET /statistics): the duty platform reads every department's, a
department only its own."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Db, Reader, ServicesDep
from api.errors import forbidden, unprocessable
from api.routers import AUTH_RESPONSES
from hub.statistics import Bucket, Period, PeriodInvalid, Statistics, UnknownDepartment, statistics

router = APIRouter(prefix="/statistics", tags=["statistics"], responses=AUTH_RESPONSES)


@router.get(
    "",
    response_model=Statistics,
    summary="Figures per department, site, rule, source, model and supervision item over a period",
    responses={403: {"description": "Another department's figures asked for with a department's token"}},
)
async def get_statistics(
    db: Db,
    caller: Reader,
    services: ServicesDep,
    first: Annotated[
        date | None,
        Query(alias="from", description="First local day, YYYY-MM-DD (default: 29 days before `to`)"),
    ] = None,
    last: Annotated[
        date | None, Query(alias="to", description="Last local day, included (default: today)")
    ] = None,
    bucket: Annotated[Bucket, Query(description="Figures per day, ISO week (from Monday) or month")] = "day",
    department: Annotated[
        str | None, Query(max_length=63, description="One department's figures (a department's own: always)")
    ] = None,
) -> Statistics:
    """Per department and bucket, and for the whole period (`bucket` null): clues received,
    claimed and answered in time, overdue, escalated (督办) and open, with the median and 90th
    percentile of seconds to claim and to answer; alerts per site and rule, per camera or sensor
    (source) and per model version (where the events name one), each with the false alarms
    (dismissed by an operator or fed back as such) and their share; supervision-action records
    per item. Days are those of the deployment's time zone; a clue counts on the day it was
    issued, overdue and open as they stand now; an alert on the day it began, judged as it
    stands now."""
    if caller.department is not None:
        if department not in (None, caller.department):
            raise forbidden(
                ["query", "department"],
                f"a department reads its own figures only: {caller.department}, not {department}",
            )
        department = caller.department
    deployment = services.hub.config.deployment
    now = services.now()
    try:
        period = Period.ending(now.astimezone(deployment.tz).date(), first, last, bucket)
    except PeriodInvalid as exc:
        raise unprocessable(["query", "from"], str(exc)) from None
    try:
        return await db.run(statistics, deployment, period, now, department)
    except UnknownDepartment as exc:
        raise unprocessable(["query", "department"], str(exc)) from None
