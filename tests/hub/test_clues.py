"""Risk-clue workflow: every (status, action) pair, feedback, the trail, deadlines and department
scoping, on both servers."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from hub import clues
from hub.pipeline import Pipeline
from hub.records import RiskClue
from hub.store.db import Connection, Database
from hub.workflow import CLUES, IllegalTransition, RecordNotFound
from tests.conftest import Clock
from tests.hub.feed import GAS, HALL, WARM, event, take

WANG = "market:wang"
SUPERVISOR = "supervisor:zhao"
PHOTO = "f" * 64
REPAIRED = "leak at the compressor valve, repaired"
_event_ids = itertools.count()

# Each action as the department or the supervising side calls it.
ACTIONS: dict[str, Callable[[Connection, int, datetime], RiskClue]] = {
    "claim": lambda conn, id, at: clues.claim(conn, id, WANG, at, department="market"),
    "handle": lambda conn, id, at: clues.handle(
        conn, id, WANG, at, "valve closed on site", department="market"
    ),
    "feed_back": lambda conn, id, at: clues.feed_back(
        conn, id, WANG, at, "confirmed", REPAIRED, [PHOTO], department="market"
    ),
    "close": lambda conn, id, at: clues.close(conn, id, SUPERVISOR, at, "feedback accepted"),
    "reopen": lambda conn, id, at: clues.reopen(conn, id, SUPERVISOR, at, "no photo of the repair"),
}
PATH_TO = {
    "issued": [],
    "claimed": ["claim"],
    "handled": ["claim", "handle"],
    "fed_back": ["claim", "handle", "feed_back"],
    "closed": ["claim", "handle", "feed_back", "close"],
}
ALLOWED = {
    "issued": ["claim"],
    "claimed": ["handle"],
    "handled": ["feed_back"],
    "fed_back": ["close", "reopen"],
    "closed": [],
}


def issue(db: Database, pipeline: Pipeline, clock: Clock, base: dict[str, str] = GAS, **extra: Any) -> int:
    """A clue from one event; `base` GAS gives market a class-1 clue, HALL hall-office a class-3 one."""
    taken = take(db, pipeline, event(f"e{next(_event_ids)}", clock.now, base, **extra))
    assert taken.clue_id is not None
    return taken.clue_id


def clue_in(db: Database, pipeline: Pipeline, clock: Clock, status: str) -> int:
    """A market clue brought to `status` by the department and supervisor, a minute per step."""
    clue_id = issue(db, pipeline, clock)
    with db.transaction() as conn:
        for action in PATH_TO[status]:
            ACTIONS[action](conn, clue_id, clock.advance(minutes=1))
    return clue_id


def snapshot(db: Database, clue_id: int) -> tuple[RiskClue, int, int]:
    """The clue, the length of its trail and the size of the audit log."""
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        assert row is not None
        return clues.get_clue(conn, clue_id), len(CLUES.history(conn, clue_id)), int(row[0])


def expected_after(before: RiskClue, action: str, at: datetime) -> RiskClue:
    """What a legal action does to the clue's fields."""
    moved = replace(before, updated_at=at)
    if action == "claim":
        return replace(moved, status="claimed", claimed_at=at)
    if action == "handle":
        return replace(moved, status="handled")
    if action == "feed_back":
        return replace(
            moved,
            status="fed_back",
            fed_back_at=at,
            verdict="confirmed",
            feedback=REPAIRED,
            feedback_evidence=[PHOTO],
        )
    if action == "close":
        return replace(moved, status="closed", closed_at=at)
    assert action == "reopen"
    return replace(
        moved, status="claimed", fed_back_at=None, verdict=None, feedback=None, feedback_evidence=[]
    )


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("status", list(PATH_TO))
def test_every_status_and_action(
    db: Database, pipeline: Pipeline, clock: Clock, status: str, action: str
) -> None:
    clue_id = clue_in(db, pipeline, clock, status)
    before, trail_before, audit_before = snapshot(db, clue_id)
    assert before.status == status
    at = clock.advance(minutes=5)
    legal = action in ALLOWED[status]
    with db.transaction() as conn:
        if legal:
            moved = ACTIONS[action](conn, clue_id, at)
        else:
            with pytest.raises(IllegalTransition) as caught:
                ACTIONS[action](conn, clue_id, at)
    after, trail_after, audit_after = snapshot(db, clue_id)

    if legal:
        assert after == moved == expected_after(before, action, at)
        assert (trail_after, audit_after) == (trail_before + 1, audit_before + 1)
        return
    allowed = ALLOWED[status]
    assert (caught.value.status, caught.value.action, caught.value.allowed) == (status, action, allowed)
    assert str(caught.value) == (
        f"cannot {action} clue {clue_id}: it is {status};"
        f" allowed now: {', '.join(allowed) if allowed else 'nothing (final state)'}"
    )
    assert (after, trail_after, audit_after) == (before, trail_before, audit_before)


@pytest.mark.parametrize(
    ("verdict", "text", "message"),
    [
        ("maybe", "looked into it", "verdict must be one of confirmed, false_alarm, got 'maybe'"),
        ("", "looked into it", "verdict must be one of confirmed, false_alarm, got ''"),
        ("Confirmed", "looked into it", "got 'Confirmed'"),
        ("confirmed", "", "feedback text is empty"),
        ("false_alarm", "  \n\t", "feedback text is empty"),
    ],
)
def test_feedback_is_validated(
    db: Database, pipeline: Pipeline, clock: Clock, verdict: str, text: str, message: str
) -> None:
    clue_id = clue_in(db, pipeline, clock, "handled")
    before = snapshot(db, clue_id)
    with db.transaction() as conn, pytest.raises(clues.FeedbackInvalid, match=message):
        clues.feed_back(conn, clue_id, WANG, clock.now, verdict, text, department="market")
    assert snapshot(db, clue_id) == before


def test_false_alarm_feedback(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    clue_id = clue_in(db, pipeline, clock, "handled")
    with db.transaction() as conn:
        clue = clues.feed_back(
            conn, clue_id, WANG, clock.now, "false_alarm", "sensor was being calibrated", department="market"
        )
    assert (clue.status, clue.verdict, clue.feedback) == (
        "fed_back",
        "false_alarm",
        "sensor was being calibrated",
    )


def test_the_trail_of_a_whole_life(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    issued_at = clock.now
    clue_id = issue(db, pipeline, clock)
    t = [clock.advance(minutes=10 * (n + 1)) for n in range(7)]
    with db.transaction() as conn:
        clues.claim(conn, clue_id, WANG, t[0], department="market")
        clues.handle(conn, clue_id, "market:li", t[1], "valve closed", department="market")
        clues.feed_back(conn, clue_id, WANG, t[2], "confirmed", "valve replaced", department="market")
        clues.reopen(conn, clue_id, SUPERVISOR, t[3], "no photo of the new valve")
        clues.handle(conn, clue_id, "market:li", t[4], "photographed", department="market")
        clues.feed_back(
            conn, clue_id, WANG, t[5], "confirmed", "valve replaced", [PHOTO], department="market"
        )
        final = clues.close(conn, clue_id, SUPERVISOR, t[6], "accepted")
        trail = CLUES.history(conn, clue_id)
        audit = conn.execute(
            "SELECT actor, action, at, detail FROM audit_log WHERE subject = %s ORDER BY seq",
            (f"clue:{clue_id}",),
        ).fetchall()

    assert [(s.at, s.actor, s.action, s.from_status, s.to_status, s.note) for s in trail] == [
        (issued_at, "rule:coldstore-gas-high", "issue", None, "issued", ""),
        (t[0], WANG, "claim", "issued", "claimed", ""),
        (t[1], "market:li", "handle", "claimed", "handled", "valve closed"),
        (t[2], WANG, "feed_back", "handled", "fed_back", ""),
        (t[3], SUPERVISOR, "reopen", "fed_back", "claimed", "no photo of the new valve"),
        (t[4], "market:li", "handle", "claimed", "handled", "photographed"),
        (t[5], WANG, "feed_back", "handled", "fed_back", ""),
        (t[6], SUPERVISOR, "close", "fed_back", "closed", "accepted"),
    ]
    assert [(actor, action, at) for actor, action, at, _ in audit] == [
        (s.actor, f"clue.{s.action}", s.at) for s in trail
    ]
    assert audit[0][3] == {
        "from": None, "to": "issued", "note": "", "department": "market",
        "route": "cold-chain-to-market", "risk_class": 1,
    }  # fmt: skip
    assert audit[6][3] == {
        "from": "handled", "to": "fed_back", "note": "",
        "verdict": "confirmed", "feedback": "valve replaced", "feedback_evidence": [PHOTO],
    }  # fmt: skip
    assert (final.claimed_at, final.fed_back_at, final.closed_at) == (t[0], t[5], t[6])


def test_feedback_keeps_the_findings_evidence(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    """The evidence the clue was issued with is what the finding rests on; feedback adds to it."""
    finding = "a" * 64
    clue_id = issue(db, pipeline, clock, evidence=[finding])
    with db.transaction() as conn:
        clues.claim(conn, clue_id, WANG, clock.now, department="market")
        clues.handle(conn, clue_id, WANG, clock.now, department="market")
        fed = clues.feed_back(conn, clue_id, WANG, clock.now, "confirmed", "repaired", department="market")
        reopened = clues.reopen(conn, clue_id, SUPERVISOR, clock.now, "show the repair")
        clues.handle(conn, clue_id, WANG, clock.now, department="market")
        refed = clues.feed_back(
            conn, clue_id, WANG, clock.now, "confirmed", "repaired", [PHOTO], department="market"
        )
    assert fed.evidence == reopened.evidence == refed.evidence == [finding]
    assert (fed.feedback_evidence, reopened.feedback_evidence, refed.feedback_evidence) == ([], [], [PHOTO])


@pytest.mark.parametrize(
    ("status", "past", "overdue"),
    [
        ("issued", timedelta(0), None),  # exactly at the deadline is not past it
        ("issued", timedelta(seconds=1), "claim"),
        ("issued", timedelta(days=2), "claim"),  # past both deadlines: claiming comes first
        ("claimed", timedelta(seconds=1), None),  # claimed in time; feedback not due yet
        ("claimed", timedelta(days=2), "feedback"),
        ("handled", timedelta(days=2), "feedback"),
        ("fed_back", timedelta(days=2), None),
        ("closed", timedelta(days=2), None),
    ],
)
def test_overdue(
    db: Database, pipeline: Pipeline, clock: Clock, status: str, past: timedelta, overdue: str | None
) -> None:
    clue_id = clue_in(db, pipeline, clock, status)
    with db.transaction() as conn:
        clue = clues.get_clue(conn, clue_id)
        now = clue.claim_deadline + past
        listed = [c.id for c in clues.list_clues(conn, overdue_at=now)]
    assert clue.overdue(clue.issued_at) is None
    assert clue.overdue(now) == overdue
    assert listed == ([clue_id] if overdue else [])


def test_overdue_list_is_exactly_the_overdue_clues(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    """Class 1 (gas): claim 30 min, feedback 24 h; class 2 (warm): 4 h, 7 d; class 3 (hall): 1 d, 15 d."""

    def gas(minutes_ago: int) -> int:
        """A gas finding that ended a minute later: the next one, beyond the rule's 5 min cooldown,
        opens an alert of its own. Every clue is issued now, whenever the finding was."""
        seen = clock.now - timedelta(minutes=minutes_ago)
        clue_id = issue(db, pipeline, clock, time=seen)
        take(db, pipeline, event(f"e{next(_event_ids)}", seen + timedelta(minutes=1), GAS, cleared=True))
        return clue_id

    gas_issued, gas_claimed, gas_fed_back = gas(20), gas(10), gas(0)
    warm = issue(db, pipeline, clock, WARM)
    hall = issue(db, pipeline, clock, HALL)
    with db.transaction() as conn:
        for action in PATH_TO["claimed"]:
            ACTIONS[action](conn, gas_claimed, clock.now)
        for action in PATH_TO["fed_back"]:
            ACTIONS[action](conn, gas_fed_back, clock.now)
    start = clock.now
    expected = {
        timedelta(minutes=29): set(),
        timedelta(minutes=31): {gas_issued},
        timedelta(hours=5): {gas_issued, warm},
        timedelta(hours=24): {gas_issued, warm},  # gas feedback and hall claim due exactly now
        timedelta(hours=24, seconds=1): {gas_issued, gas_claimed, warm, hall},
        timedelta(days=16): {gas_issued, gas_claimed, warm, hall},
    }
    with db.transaction() as conn:
        every = clues.list_clues(conn)
        for offset, ids in expected.items():
            listed = clues.list_clues(conn, overdue_at=start + offset)
            assert {c.id for c in listed} == ids, offset
            assert {c.id for c in every if c.overdue(start + offset)} == ids, offset
        in_market = clues.list_clues(conn, department="market", overdue_at=start + timedelta(days=2))
    assert {c.id for c in in_market} == {gas_issued, gas_claimed, warm}


def test_another_departments_clue_does_not_exist_for_it(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    market = clue_in(db, pipeline, clock, "handled")
    hall = issue(db, pipeline, clock, HALL)
    before = snapshot(db, market)
    office = "hall-office"
    attempts: list[Callable[[Connection], object]] = [
        lambda conn: clues.get_clue(conn, market, office),
        lambda conn: clues.claim(conn, market, "office:liu", clock.now, department=office),
        lambda conn: clues.handle(conn, market, "office:liu", clock.now, "done", department=office),
        lambda conn: clues.feed_back(
            conn, market, "office:liu", clock.now, "false_alarm", "nothing there", department=office
        ),
    ]
    for attempt in attempts:
        with db.transaction() as conn, pytest.raises(RecordNotFound) as caught:
            attempt(conn)
        assert str(caught.value) == f"no clue {market}"  # says no more than for a missing id
    assert snapshot(db, market) == before

    with db.transaction() as conn:
        assert clues.get_clue(conn, market, "market").status == "handled"
        assert [c.id for c in clues.list_clues(conn, department="market")] == [market]
        assert [c.id for c in clues.list_clues(conn, department=office)] == [hall]
        assert [c.id for c in clues.list_clues(conn, department="nobody")] == []
        assert {c.id for c in clues.list_clues(conn)} == {market, hall}
        assert [c.id for c in clues.list_clues(conn, department="market", status="issued")] == []


def test_unknown_clue(db: Database, clock: Clock) -> None:
    with db.transaction() as conn:
        for action in ACTIONS.values():
            with pytest.raises(RecordNotFound, match="no clue 4242"):
                action(conn, 4242, clock.now)
