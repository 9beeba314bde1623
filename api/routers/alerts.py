"""Alerts: list with filters and cursor pages, detail with evidence and trail, and the lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.actions import actions_of_alert
from api.auth import Principal
from api.deps import Db, Reader, ServicesDep, Staff
from api.routers import AUTH_RESPONSES, CONFLICT, NOT_FOUND, evidence_links
from api.schemas import (
    AlertCounts,
    AlertDetail,
    AlertPage,
    AlertPublic,
    Cursor,
    Limit,
    Note,
    RecordId,
    Since,
    TransitionPublic,
    Until,
    decode_cursor,
    next_cursor,
)
from hub import alerts
from hub.clues import clues_of_alert
from hub.config.types import Severity
from hub.records import AlertStatus
from hub.store.db import Connection
from hub.workflow import ALERTS

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTH_RESPONSES)


def alert_filter(
    site: Annotated[str | None, Query(max_length=63)] = None,
    source: Annotated[str | None, Query(max_length=80)] = None,
    rule: Annotated[str | None, Query(max_length=63)] = None,
    severity: Severity | None = None,
    status: AlertStatus | None = None,
    since: Annotated[Since, Query()] = None,
    until: Annotated[Until, Query()] = None,
) -> alerts.AlertFilter:
    """The query parameters that filter alerts, shared by the list and the counts."""
    return alerts.AlertFilter(site, source, rule, severity, status, since, until)


Filter = Annotated[alerts.AlertFilter, Depends(alert_filter)]


@router.get("", response_model=AlertPage, summary="List alerts, newest first")
async def list_alerts(
    db: Db,
    caller: Reader,
    where: Filter,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor, Query()] = None,
) -> AlertPage:
    """Alerts by first seen, newest first. A department sees only the alerts behind its clues."""
    where = replace(where, department=caller.department)
    rows = await db.read(alerts.list_alerts, where=where, before=decode_cursor(cursor), limit=limit)
    return AlertPage(
        items=[AlertPublic.model_validate(a) for a in rows],
        next_cursor=next_cursor(rows, limit, "first_seen"),
    )


@router.get("/counts", response_model=AlertCounts, summary="How many alerts in each state")
async def count_alerts(db: Db, caller: Reader, where: Filter) -> AlertCounts:
    """Under the list's filters, `status` aside: the wall's counters, over the whole store rather
    than the pages loaded. A department counts only the alerts behind its clues."""
    counts = await db.read(alerts.count_by_status, replace(where, department=caller.department))
    return AlertCounts.model_validate(counts)


@router.get("/{alert_id}", response_model=AlertDetail, responses=NOT_FOUND, summary="One alert")
async def get_alert(alert_id: RecordId, db: Db, caller: Reader, services: ServicesDep) -> AlertDetail:
    """The alert with links to its evidence, its whole trail, its records and its clues."""
    return await db.run(_detail, alert_id, caller.department, services.now())


def _detail(conn: Connection, alert_id: int, department: str | None, now: datetime) -> AlertDetail:
    alert = alerts.get_alert(conn, alert_id, department)
    trail = [TransitionPublic.model_validate(t) for t in ALERTS.history(conn, alert_id)]
    actions = [] if department is not None else actions_of_alert(conn, alert_id)
    return AlertDetail.model_validate(
        {
            **alert.__dict__,
            "evidence_links": evidence_links(alert.evidence),
            "trail": trail,
            "records": [{**a.__dict__, "record_id": str(a.record_id)} for a in actions],
            "clues": [
                {**c.__dict__, "overdue": c.overdue(now)} for c in clues_of_alert(conn, alert_id, department)
            ],
        }
    )


async def _act(
    action: str, alert_id: int, db: Db, caller: Principal, services: ServicesDep, body: Note | None
) -> AlertPublic:
    note = body.note if body else ""
    alert = await db.run(alerts.transition_alert, alert_id, action, caller.actor, services.now(), note)
    return AlertPublic.model_validate(alert)


_ACTION: dict[int | str, dict[str, Any]] = {**NOT_FOUND, **CONFLICT}


@router.post(
    "/{alert_id}/acknowledge",
    summary="Acknowledge an open alert",
    response_model=AlertPublic,
    responses=_ACTION,
)
async def acknowledge(
    alert_id: RecordId, db: Db, caller: Staff, services: ServicesDep, body: Note | None = None
) -> AlertPublic:
    """An operator has seen the alert and is on it."""
    return await _act("acknowledge", alert_id, db, caller, services, body)


@router.post(
    "/{alert_id}/dismiss",
    summary="Dismiss an alert as a false alarm",
    response_model=AlertPublic,
    responses=_ACTION,
)
async def dismiss(
    alert_id: RecordId, db: Db, caller: Staff, services: ServicesDep, body: Note | None = None
) -> AlertPublic:
    """The finding was wrong; the alert ends as dismissed."""
    return await _act("dismiss", alert_id, db, caller, services, body)


@router.post("/{alert_id}/close", summary="Close an alert", response_model=AlertPublic, responses=_ACTION)
async def close(
    alert_id: RecordId, db: Db, caller: Staff, services: ServicesDep, body: Note | None = None
) -> AlertPublic:
    """The cause is dealt with; the alert ends as closed."""
    return await _act("close", alert_id, db, caller, services, body)
