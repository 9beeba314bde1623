"""Escalation (督办) of overdue clues: at the right moment, once per missed deadline, in the trail, the
audit log and the outbox; once across two hubs ticking on one database and across a restart."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from hub import audit, clues
from hub.config import Deployment, Settings, load_config
from hub.escalation import Escalation, escalate_overdue
from hub.events import Event
from hub.pipeline import Pipeline
from hub.runtime import Hub
from hub.store.db import Database, open_database
from hub.workflow import CLUES
from tests.conftest import REPO, Clock, Server
from tests.hub.feed import GAS, event, take

_ids = itertools.count()


def gas_clues(db: Database, pipeline: Pipeline, clock: Clock, n: int) -> list[int]:
    """`n` class-1 market clues (claim within 30 min), issued a minute apart; each alert ends at
    once, and the findings lie 10 minutes apart, beyond the rule's cooldown."""
    ids = []
    for k in range(n):
        at = clock.now - timedelta(minutes=10 * (n - k))
        taken = take(db, pipeline, event(f"x{next(_ids)}", at, GAS))
        take(db, pipeline, event(f"x{next(_ids)}", at, GAS, cleared=True))
        assert taken.clue_id is not None
        ids.append(taken.clue_id)
        clock.advance(minutes=1)
    return ids


def escalations(
    db: Database, clue_id: int
) -> tuple[list[tuple[str | None, str, str, str]], list[str], list[str]]:
    """The clue's escalate steps (from, to, actor, note), its audit entries' deadlines and its outbox
    changes named escalate, each in order."""
    with db.transaction() as conn:
        steps = [
            (t.from_status, t.to_status, t.actor, t.note)
            for t in CLUES.history(conn, clue_id)
            if t.action == "escalate"
        ]
        logged = conn.execute(
            "SELECT detail->>'deadline' FROM audit_log"
            " WHERE action = 'clue.escalate' AND subject = %s ORDER BY seq",
            (f"clue:{clue_id}",),
        ).fetchall()
        pushed = conn.execute(
            "SELECT body->>'status' FROM outbox"
            " WHERE kind = 'clue' AND subject = %s AND change = 'escalate' ORDER BY id",
            (clue_id,),
        ).fetchall()
    return steps, [str(r[0]) for r in logged], [str(r[0]) for r in pushed]


def test_a_clue_is_escalated_once_for_each_deadline_it_misses(
    db: Database, pipeline: Pipeline, clock: Clock, demo_config: Deployment
) -> None:
    issued = clock.now  # 10:00 in Asia/Shanghai
    (clue_id,) = gas_clues(db, pipeline, clock, 1)
    claim_by, feedback_by = issued + timedelta(minutes=30), issued + timedelta(hours=24)
    assert escalate_overdue(db, demo_config, claim_by) == []  # due at the deadline, late only after it
    assert escalate_overdue(db, demo_config, claim_by + timedelta(seconds=1)) == [
        Escalation(clue_id, "market", "claim", claim_by)
    ]
    assert escalate_overdue(db, demo_config, claim_by + timedelta(hours=2)) == []
    note = "超过认领时限（2026-11-23 10:30:00 +08:00）未认领，督办"
    assert escalations(db, clue_id) == (
        [("issued", "issued", "system:escalation", note)],
        ["claim"],
        ["issued"],
    )

    with db.transaction() as conn:  # claimed late: the feedback deadline still stands on its own
        clues.claim(conn, clue_id, "market:wang", issued + timedelta(hours=3), department="market")
    assert escalate_overdue(db, demo_config, feedback_by) == []
    late = escalate_overdue(db, demo_config, feedback_by + timedelta(minutes=1))
    assert late == [Escalation(clue_id, "market", "feedback", feedback_by)]
    steps, logged, pushed = escalations(db, clue_id)
    assert [s[:2] for s in steps] == [("issued", "issued"), ("claimed", "claimed")]
    assert steps[1][3] == "超过反馈时限（2026-11-24 10:00:00 +08:00）未反馈，督办"
    assert (logged, pushed) == (["claim", "feedback"], ["issued", "claimed"])
    with db.transaction() as conn:
        clues.handle(conn, clue_id, "market:wang", feedback_by + timedelta(hours=2), department="market")
        clues.feed_back(
            conn,
            clue_id,
            "market:wang",
            feedback_by + timedelta(hours=2),
            "confirmed",
            "fixed",
            department="market",
        )
    assert escalate_overdue(db, demo_config, feedback_by + timedelta(days=30)) == []


def test_two_hubs_on_one_database_escalate_each_clue_once(
    db: Database, pipeline: Pipeline, clock: Clock, demo_config: Deployment, tmp_path: Path
) -> None:
    ids = gas_clues(db, pipeline, clock, 6)
    late = clock.now + timedelta(hours=1)
    other = open_database(db.dsn, tmp_path, pool_size=2)  # a second hub process's pool
    start = threading.Barrier(2)
    done: dict[str, list[Escalation]] = {}

    def tick(name: str, database: Database) -> None:
        start.wait(timeout=30)
        done[name] = escalate_overdue(database, demo_config, late)

    try:
        threads = [threading.Thread(target=tick, args=pair) for pair in (("one", db), ("two", other))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.close()
    escalated = [e.clue_id for e in done["one"] + done["two"]]
    assert sorted(escalated) == ids  # every clue, by one hub or the other, none by both
    for clue_id in ids:
        steps, logged, pushed = escalations(db, clue_id)
        assert (len(steps), logged, pushed) == (1, ["claim"], ["issued"])
    with db.transaction() as conn:
        assert audit.verify(conn).intact


def test_the_hubs_tick_escalates_and_a_restarted_hub_not_again(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo config's evidence folder is relative
    loaded = load_config(REPO / "configs" / "demo.yaml")
    dsn = server.create_database()
    try:
        hub = Hub.start(loaded, Settings(data_dir=tmp_path), dsn=dsn)
        try:
            now = hub.pipeline.clock()
            taken = hub.take(Event.model_validate({"id": "tick-1", "time": now, **GAS}))
            assert taken.clue_id is not None
            hub.upkeep(now + timedelta(minutes=29))
            assert escalations(hub.db, taken.clue_id) == ([], [], [])
            hub.upkeep(now + timedelta(minutes=31))
            assert len(escalations(hub.db, taken.clue_id)[0]) == 1
        finally:
            hub.close()
        again = Hub.start(loaded, Settings(data_dir=tmp_path), dsn=dsn)
        try:
            again.upkeep(now + timedelta(hours=2))
            assert escalations(again.db, taken.clue_id)[1:] == (["claim"], ["issued"])
        finally:
            again.close()
    finally:
        server.drop_database(dsn)
