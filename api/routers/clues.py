"""Risk clues: a department's list, detail with the trail, and claim / handle / feed back / close.

A department reads its own clues and those escalated to it for supervision (督办); it acts only on
its own: on a supervised one, claim, handle and feedback answer 403 and `allowed` is empty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile

from api.auth import Principal
from api.deps import Admin, ClueWorker, Db, Reader, ServicesDep
from api.errors import forbidden
from api.routers import AUTH_RESPONSES, CONFLICT, NOT_FOUND, evidence_links
from api.schemas import (
    ClueDetail,
    CluePage,
    CluePublic,
    Cursor,
    Limit,
    Note,
    RecordId,
    ReopenNote,
    TransitionPublic,
    decode_cursor,
    next_cursor,
)
from hub import clues
from hub.records import ClueStatus, RiskClue, Verdict
from hub.store.db import Connection
from hub.workflow import CLUES

router = APIRouter(prefix="/clues", tags=["clues"], responses=AUTH_RESPONSES)
_ACTION: dict[int | str, dict[str, Any]] = {**NOT_FOUND, **CONFLICT}


def _public(clue: RiskClue, now: datetime) -> CluePublic:
    return CluePublic.model_validate({**clue.__dict__, "overdue": clue.overdue(now)})


def _detail(conn: Connection, clue: RiskClue, now: datetime, caller: Principal) -> ClueDetail:
    trail = [TransitionPublic.model_validate(t) for t in CLUES.history(conn, clue.id)]
    supervising = caller.department not in (None, clue.department)
    return ClueDetail.model_validate(
        {
            **clue.__dict__,
            "overdue": clue.overdue(now),
            "evidence_links": evidence_links([*clue.evidence, *clue.feedback_evidence]),
            "allowed": [] if supervising else CLUES.allowed(clue.status),
            "trail": trail,
        }
    )


def _own(conn: Connection, clue_id: int, caller: Principal) -> None:
    """404 for a clue the caller cannot see; 403 for one it only supervises."""
    if caller.department is None:
        return
    clue = clues.get_clue(conn, clue_id, caller.department, supervising=True)
    if clue.department != caller.department:
        raise forbidden(
            ["path", "clue_id"],
            f"clue {clue_id} is {clue.department}'s to answer: {caller.department} supervises it"
            " (督办) and may read it only",
        )


async def _detailed(
    db: Db,
    services: ServicesDep,
    caller: Principal,
    clue_id: int,
    step: Callable[[Connection, datetime], RiskClue],
    *,
    acting: bool = True,
) -> ClueDetail:
    """Run `step` (a read, or with `acting` a move of the workflow after checking the caller's
    own clue) and answer the clue as it left it."""
    now = services.now()

    def run(conn: Connection) -> ClueDetail:
        if acting:
            _own(conn, clue_id, caller)
        return _detail(conn, step(conn, now), now, caller)

    return await db.run(run)


@router.get("", response_model=CluePage, summary="List risk clues, newest first")
async def list_clues(
    db: Db,
    caller: Reader,
    services: ServicesDep,
    status: ClueStatus | None = None,
    overdue: Annotated[bool, Query(description="Only clues with a deadline passed")] = False,
    site: Annotated[str | None, Query(max_length=63)] = None,
    department: Annotated[str | None, Query(max_length=63, description="Ignored for departments")] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[Cursor, Query()] = None,
) -> CluePage:
    """A department sees only the clues routed to it and those escalated to it for supervision
    (督办); the others exist for it nowhere."""
    now = services.now()
    rows = await db.read(
        clues.list_clues,
        department=caller.department or department,
        supervising=caller.department is not None,
        status=status,
        overdue_at=now if overdue else None,
        site=site,
        before=decode_cursor(cursor),
        limit=limit,
    )
    return CluePage(items=[_public(c, now) for c in rows], next_cursor=next_cursor(rows, limit, "issued_at"))


@router.get("/{clue_id}", response_model=ClueDetail, responses=NOT_FOUND, summary="One risk clue")
async def get_clue(clue_id: RecordId, db: Db, caller: Reader, services: ServicesDep) -> ClueDetail:
    """The clue with its evidence links, the actions allowed now and its whole trail."""
    return await _detailed(
        db,
        services,
        caller,
        clue_id,
        lambda conn, now: clues.get_clue(conn, clue_id, caller.department, supervising=True),
        acting=False,
    )


@router.post("/{clue_id}/claim", summary="Claim a clue (认领)", response_model=ClueDetail, responses=_ACTION)
async def claim(clue_id: RecordId, db: Db, caller: ClueWorker, services: ServicesDep) -> ClueDetail:
    """The department takes the clue on."""
    return await _detailed(
        db,
        services,
        caller,
        clue_id,
        lambda conn, now: clues.claim(conn, clue_id, caller.actor, now, department=caller.department),
    )


@router.post(
    "/{clue_id}/handle", summary="Report a clue handled (处办)", response_model=ClueDetail, responses=_ACTION
)
async def handle(
    clue_id: RecordId, db: Db, caller: ClueWorker, services: ServicesDep, body: Note | None = None
) -> ClueDetail:
    """The department has dealt with it on site."""
    note = body.note if body else ""
    return await _detailed(
        db,
        services,
        caller,
        clue_id,
        lambda conn, now: clues.handle(conn, clue_id, caller.actor, now, note, department=caller.department),
    )


@router.post(
    "/{clue_id}/feedback", summary="Feed back on a clue (反馈)", response_model=ClueDetail, responses=_ACTION
)
async def feed_back(
    clue_id: RecordId,
    db: Db,
    caller: ClueWorker,
    services: ServicesDep,
    verdict: Annotated[Verdict, Form(description="confirmed or false_alarm")],
    text: Annotated[
        str, Form(min_length=1, max_length=4000, pattern=r"^[^\x00]*$", description="What was found and done")
    ],
    files: Annotated[list[UploadFile] | None, File(description="Evidence of the handling")] = None,
) -> ClueDetail:
    """Verdict, text and optional evidence files, sent as multipart/form-data."""
    store = services.hub.evidence

    def step(conn: Connection, now: datetime) -> RiskClue:
        clues.get_clue(conn, clue_id, caller.department)  # 404 before anything is stored
        hashes = [
            store.register(conn, upload.file.read(), upload.content_type or "application/octet-stream")
            for upload in files or []
        ]
        return clues.feed_back(
            conn, clue_id, caller.actor, now, verdict, text, hashes, department=caller.department
        )

    return await _detailed(db, services, caller, clue_id, step)


@router.post(
    "/{clue_id}/close",
    summary="Accept the feedback and close the clue",
    response_model=ClueDetail,
    responses=_ACTION,
)
async def close(
    clue_id: RecordId, db: Db, caller: Admin, services: ServicesDep, body: Note | None = None
) -> ClueDetail:
    """The supervising side is satisfied with the feedback."""
    note = body.note if body else ""
    return await _detailed(
        db, services, caller, clue_id, lambda conn, now: clues.close(conn, clue_id, caller.actor, now, note)
    )


@router.post(
    "/{clue_id}/reopen",
    summary="Send a clue back to its department",
    response_model=ClueDetail,
    responses=_ACTION,
)
async def reopen(
    clue_id: RecordId, db: Db, caller: Admin, services: ServicesDep, body: ReopenNote
) -> ClueDetail:
    """The feedback is not accepted: the department must handle the clue again."""
    return await _detailed(
        db,
        services,
        caller,
        clue_id,
        lambda conn, now: clues.reopen(conn, clue_id, caller.actor, now, body.note),
    )
