"""Supervision-action records: filtered list and a JSON Lines export in the exchange layout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.actions import ActionFilter, export_actions, list_actions
from api.deps import Db, ServicesDep, Staff
from api.routers import AUTH_RESPONSES
from api.schemas import Cursor, Limit, RecordPage, RecordPublic, Since, Until, decode_cursor, next_cursor
from hub.records import SupervisionAction

router = APIRouter(prefix="/records", tags=["records"], responses=AUTH_RESPONSES)
ItemCode = Annotated[str | None, Query(pattern=r"^\d{14}$")]
DepartmentCode = Annotated[str | None, Query(pattern=r"^[0-9A-Z]{6,32}$")]
Site = Annotated[str | None, Query(max_length=63)]
Result = Literal["problem_found", "no_problem"] | None


def exchange_line(action: SupervisionAction) -> str:
    """One record in the provincial exchange layout: batch, operation, source and time first."""
    public = RecordPublic.model_validate({**action.__dict__, "record_id": str(action.record_id)})
    fields = public.model_dump(mode="json")
    head = {
        "batch_id": fields.pop("batch_id"),
        "operation": fields.pop("operation"),
        "source": fields.pop("exchange_source"),
        "time": fields.pop("exchange_time"),
    }
    return json.dumps({**head, **fields}, ensure_ascii=False) + "\n"


@router.get("", response_model=RecordPage, summary="List supervision-action records, newest first")
async def get_records(
    caller: Staff,
    db: Db,
    item_code: ItemCode = None,
    department_code: DepartmentCode = None,
    site: Site = None,
    result: Result = None,
    since: Annotated[Since, Query()] = None,
    until: Annotated[Until, Query()] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor, Query()] = None,
) -> RecordPage:
    """Non-site inspections by time, newest first."""
    where = ActionFilter(item_code, department_code, site, result, since, until)
    rows = await db.read(list_actions, where, decode_cursor(cursor), limit)
    items = [RecordPublic.model_validate({**r.__dict__, "record_id": str(r.record_id)}) for r in rows]
    return RecordPage(items=items, next_cursor=next_cursor(rows, limit, "inspected_at"))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "One record per line"}},
    summary="Export records as JSON Lines",
)
def export_records(
    caller: Staff,
    services: ServicesDep,
    since: Annotated[Since, Query()] = None,
    until: Annotated[Until, Query()] = None,
    item_code: ItemCode = None,
    department_code: DepartmentCode = None,
) -> StreamingResponse:
    """Records inspected in [since, until), oldest first, one JSON object per line."""
    where = ActionFilter(item_code, department_code, None, None, since, until)

    def lines() -> Iterator[str]:
        with services.hub.db.transaction() as conn:
            for action in export_actions(conn, where):
                yield exchange_line(action)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
