"""The live stream of alert changes, as Server-Sent Events, resumable by Last-Event-ID."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.auth import Principal
from api.deps import Reader, Services, ServicesDep
from api.feed import AlertChange, changes_after, latest_change
from api.routers import AUTH_RESPONSES

router = APIRouter(prefix="/stream", tags=["stream"], responses=AUTH_RESPONSES)


def _frame(change: AlertChange) -> str:
    data = json.dumps({"op": change.op, "alert": change.alert}, ensure_ascii=False, separators=(",", ":"))
    return f"id: {change.id}\nevent: alert\ndata: {data}\n\n"


async def _changes(services: Services, caller: Principal, after: int) -> AsyncIterator[str]:
    feed = services.feed
    seen = feed.generation
    yield f"retry: 1000\n: after {after}\n\n"
    while True:  # ends when the client goes: the response cancels this generator
        batch = await services.db.run(changes_after, after, caller)
        for change in batch:
            yield _frame(change)
            after = change.id
        if batch:
            continue  # there may be more behind a full batch
        generation = await feed.wait(seen)
        if generation == seen:
            yield ": keep-alive\n\n"
        seen = generation


@router.get(
    "/alerts",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    summary="Live alert changes (Server-Sent Events)",
)
async def stream_alerts(
    request: Request,
    caller: Reader,
    services: ServicesDep,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=2**63 - 1, description="Resume after this id")
    ] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Same as Last-Event-ID")] = None,
) -> StreamingResponse:
    """Each change of an alert the caller may see, as `event: alert` with the change id as `id`.

    Reconnect with the last id received (the Last-Event-ID header, which browsers send by
    themselves) to get every change made since, with no gap. Without it the stream starts now.
    """
    start = last_event_id if last_event_id is not None else after
    if start is None:
        start = await services.db.run(latest_change)
    return StreamingResponse(
        _changes(services, caller, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
