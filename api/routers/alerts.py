"""Alerts: list with filters and cursor pages, detail with evidence and trail, and the lifecycle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import Conn, Reader, Services, ServicesDep, Staff
from api.routers import AUTH_RESPONSES, CONFLICT, NOT_FOUND, evidence_links
from api.schemas import (
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
from hub.config.types import Severity
from hub.records import AlertStatus
from hub.store.db import Connection
from hub.workflow import ALERTS

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=AUTH_RESPONSES)


@router.get("", response_model=AlertPage, summary="List alerts, newest first")
def list_alerts(
    conn: Conn,
    caller: Reader,
    site: Annotated[str | None, Query(max_length=63)] = None,
    source: Annotated[str | None, Query(max_length=80)] = None,
    rule: Annotated[str | None, Query(max_length=63)] = None,
    severity: Severity | None = None,
    status: AlertStatus | None = None,
    since: Annotated[Since, Query()] = None,
    until: Annotated[Until, Query()] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor, Query()] = None,
) -> AlertPage:
    """Alerts by first seen, newest first. A department sees only the alerts behind its clues."""
    where = alerts.AlertFilter(site, source, rule, severity, status, since, until, caller.department)
    rows = alerts.list_alerts(conn, where=where, before=decode_cursor(cursor), limit=limit)
    return AlertPage(
        items=[AlertPublic.model_validate(a) for a in rows],
        next_cursor=next_cursor(rows, limit, "first_seen"),
    )


@router.get("/{alert_id}", response_model=AlertDetail, responses=NOT_FOUND, summary="One alert")
def get_alert(alert_id: RecordId, conn: Conn, caller: Reader) -> AlertDetail:
    """The alert with links to its evidence and its whole trail."""
    alert = alerts.get_alert(conn, alert_id, caller.department)
    trail = [TransitionPublic.model_validate(t) for t in ALERTS.history(conn, alert_id)]
    return AlertDetail.model_validate(
        {**alert.__dict__, "evidence_links": evidence_links(alert.evidence), "trail": trail}
    )


def _act(
    action: str, alert_id: int, conn: Connection, caller: Principal, services: Services, body: Note | None
) -> AlertPublic:
    note = body.note if body else ""
    return AlertPublic.model_validate(
        alerts.transition_alert(conn, alert_id, action, caller.actor, services.now(), note)
    )


_ACTION: dict[int | str, dict[str, Any]] = {**NOT_FOUND, **CONFLICT}


@router.post(
    "/{alert_id}/acknowledge",
    summary="Acknowledge an open alert",
    response_model=AlertPublic,
    responses=_ACTION,
)
def acknowledge(
    alert_id: RecordId, conn: Conn, caller: Staff, services: ServicesDep, body: Note | None = None
) -> AlertPublic:
    """An operator has seen the alert and is on it."""
    return _act("acknowledge", alert_id, conn, caller, services, body)


@router.post(
    "/{alert_id}/dismiss",
    summary="Dismiss an alert as a false alarm",
    response_model=AlertPublic,
    responses=_ACTION,
)
def dismiss(
    alert_id: RecordId, conn: Conn, caller: Staff, services: ServicesDep, body: Note | None = None
) -> AlertPublic:
    """The finding was wrong; the alert ends as dismissed."""
    return _act("dismiss", alert_id, conn, caller, services, body)


@router.post("/{alert_id}/close", summary="Close an alert", response_model=AlertPublic, responses=_ACTION)
def close(
    alert_id: RecordId, conn: Conn, caller: Staff, services: ServicesDep, body: Note | None = None
) -> AlertPublic:
    """The cause is dealt with; the alert ends as closed."""
    return _act("close", alert_id, conn, caller, services, body)
