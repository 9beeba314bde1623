"""Event intake over HTTP for edge boxes: a batch of events, each taken once by its id."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api.deps import Sender, ServicesDep
from api.errors import unprocessable
from api.routers import AUTH_RESPONSES
from api.schemas import EventBatch, EventTaken, IntakeResult
from hub.events import EventRejected

router = APIRouter(prefix="/events", tags=["events"], responses=AUTH_RESPONSES)


@router.post("", response_model=IntakeResult, summary="Send a batch of events")
def post_events(batch: EventBatch, caller: Sender, services: ServicesDep) -> IntakeResult:
    """Every event is checked before any is taken; a batch sent again changes nothing.

    An edge box may send events of its own site only.
    """
    limit = services.settings.max_events
    if len(batch.events) > limit:
        raise unprocessable(["body", "events"], f"{len(batch.events)} events; at most {limit} in one batch")
    now = services.now()
    pipeline = services.hub.pipeline
    for index, event in enumerate(batch.events):
        if caller.site is not None and event.site != caller.site:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"events[{index}].site: this edge token sends for site {caller.site}, not {event.site}",
            )
        try:
            pipeline.check(event, now)
        except EventRejected as exc:
            raise unprocessable(["body", "events", index], str(exc), "event_rejected") from None
    taken = []
    for event in batch.events:
        result = services.hub.take(event)  # one transaction per event: a failure keeps the ones before
        services.metrics.events.labels(result.outcome.value).inc()
        taken.append(EventTaken(id=event.id, outcome=result.outcome, alert_id=result.alert_id))
    return IntakeResult(taken=taken)
