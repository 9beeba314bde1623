"""Outputs: the changes a destination never took (dead letters), and sending one again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Admin, Db, ServicesDep
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.schemas import Limit, RecordId
from hub import delivery
from hub.workflow import RecordNotFound

router = APIRouter(prefix="/outputs", tags=["outputs"], responses=AUTH_RESPONSES)


class DeadLetterPublic(BaseModel):
    """A change of an alert, clue or record that a destination did not take within its attempts."""

    id: int = Field(description="The delivery's id, for the retry action")
    destination: str = Field(description="The output's id in the deployment file")
    kind: str = Field(description="alert, clue or record")
    subject: int = Field(description="The id of the alert, clue or record")
    change: str = Field(description="The action that changed it (open, claim, insert, update...)")
    attempts: int
    last_error: str | None = Field(description="What the last attempt got back")
    created_at: datetime = Field(description="When the change was made")


@router.get("/dead", response_model=list[DeadLetterPublic], summary="List dead letters, oldest first")
async def list_dead(caller: Admin, db: Db, limit: Annotated[Limit, Query()] = 50) -> list[DeadLetterPublic]:
    """Changes given up on after the destination's `max_attempts`; later changes of the same record
    wait behind them."""
    rows = await db.run(delivery.dead_letters, limit)
    return [DeadLetterPublic.model_validate(row.__dict__) for row in rows]


@router.post(
    "/dead/{delivery_id}/retry",
    status_code=202,
    responses=NOT_FOUND,
    summary="Send a dead letter again",
)
async def retry_dead(delivery_id: RecordId, caller: Admin, db: Db, services: ServicesDep) -> None:
    """The change is due again with a fresh count of attempts; the delivery worker sends it."""
    now = services.now()
    if not await db.run(delivery.retry, delivery_id, caller.actor, now):
        raise RecordNotFound(f"no dead letter {delivery_id}")
