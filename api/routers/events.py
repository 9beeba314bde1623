"""Event intake over HTTP for edge boxes: a batch of events, each taken once by its id."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, status

from api.auth import Principal
from api.deps import Sender, ServicesDep
from api.errors import forbidden, unprocessable
from api.routers import AUTH_RESPONSES
from api.schemas import EventBatch, EventTaken, IntakeResult
from hub import audit
from hub.events import Event, EventRejected, ForeignEvent
from hub.evidence import not_held
from hub.pipeline import Pipeline
from hub.sink import HubUnavailable, InProcessSink
from hub.store.db import Connection

router = APIRouter(prefix="/events", tags=["events"], responses=AUTH_RESPONSES)


@router.post(
    "",
    response_model=IntakeResult,
    summary="Send a batch of events",
    responses={403: {"description": "An event of another site than the edge token's; nothing taken"}},
)
def post_events(batch: EventBatch, caller: Sender, services: ServicesDep) -> IntakeResult:
    """Every event is checked before any is taken; a batch sent again changes nothing.

    Each event is bound to its site: its source must stand in that site, its rule watch that source
    (or be an `external` rule of the site), its supervised object be one of the site's. An edge box
    sends for its own site only, citing evidence it uploaded itself: anything else refuses the
    whole batch (403, audited).
    """
    limit = services.settings.max_events
    if len(batch.events) > limit:
        raise unprocessable(["body", "events"], f"{len(batch.events)} events; at most {limit} in one batch")
    hub = services.hub
    with hub.db.transaction() as conn:
        refusal = _refusal(conn, batch.events, caller, hub.pipeline, services.now())
        if refusal is not None and refusal.status_code == status.HTTP_403_FORBIDDEN:
            detail = {"site": caller.site, "events": [e.id for e in batch.events], "why": refusal.detail}
            audit.append(conn, caller.actor, "events.refused", f"site:{caller.site}", detail, services.now())
    if refusal is not None:
        raise refusal
    # One transaction per event: a failure keeps the ones before, and sending again repeats nothing.
    try:
        done = InProcessSink.of(hub, caller.actor).take(batch.events)
    except HubUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the hub's database is away ({exc}); send the batch again"
        ) from exc
    taken = []
    for delivery in done:
        if delivery.outcome is None:  # refused after the check above: the deployment changed meanwhile
            raise unprocessable(["body", "events"], delivery.reason, "event_rejected")
        services.metrics.events.labels(delivery.outcome.value).inc()
        taken.append(EventTaken(id=delivery.event_id, outcome=delivery.outcome, alert_id=delivery.alert_id))
    return IntakeResult(taken=taken)


def _refusal(
    conn: Connection, events: list[Event], caller: Principal, pipeline: Pipeline, now: datetime
) -> HTTPException | None:
    """The answer refusing the batch for its first event that may not be taken; None: take them all."""
    for index, event in enumerate(events):
        at: list[str | int] = ["body", "events", index]
        if caller.site is not None and event.site != caller.site:
            return forbidden([*at, "site"], f"this edge token sends for site {caller.site}, not {event.site}")
        try:
            pipeline.check(event, now)
        except EventRejected as exc:
            if isinstance(exc, ForeignEvent) and caller.site is not None:
                return forbidden([*at, exc.field], str(exc))
            return unprocessable([*at, exc.field], str(exc), "event_rejected")
        missing = not_held(conn, caller.site, event.evidence) if caller.site is not None else []
        if missing:
            return forbidden(
                [*at, "evidence", event.evidence.index(missing[0])],
                f"evidence {missing[0]} was not uploaded by an edge box of site {caller.site}",
            )
    return None
