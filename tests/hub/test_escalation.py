"""Overdue clues: the department reminded (催办) at each missed deadline, the clue escalated (督办) to
the route's supervising department escalate_after later, once each, in the trail, the audit log
and the outbox; the supervisor reads the clue and nobody else does; once across two hubs ticking
on one database and across a restart; the routing fields refused where they make no sense."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from hub import audit, clues
from hub.config import ConfigError, Deployment, Settings, load_config, parse_config
from hub.escalation import Chased, Escalation, Reminder, escalate_overdue
from hub.events import Event
from hub.pipeline import Pipeline
from hub.runtime import Hub
from hub.store.db import Database, open_database
from hub.workflow import CLUES, RecordNotFound
from tests.conftest import REPO, Clock, Server
from tests.hub.feed import GAS, event, take

FOOD_PLANT = REPO / "configs" / "food_plant.yaml"
# Canteen findings go to the street's station, escalated to the bureau 2 h after a missed deadline.
RODENT = {"source": "camera:canteen-storeroom", "site": "wangcong-canteen", "rule": "storeroom-rodent"}
SMOKING = {"source": "camera:plant-workshop", "site": "shuweiyuan-plant", "rule": "workshop-smoking"}
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


def steps(db: Database, clue_id: int) -> tuple[list[tuple[str, str, str]], list[str], list[str]]:
    """The clue's remind and escalate steps (action, status, note), its audit entries of them
    (action: deadline) and its outbox changes of them (change: status), each in order."""
    with db.transaction() as conn:
        trail = [
            (t.action, t.to_status, t.note)
            for t in CLUES.history(conn, clue_id)
            if t.action in ("remind", "escalate") and t.actor == "system:escalation"
        ]
        logged = conn.execute(
            "SELECT action || ': ' || (detail->>'deadline')"
            " || coalesce(' to ' || (detail->>'supervisor'), '') FROM audit_log"
            " WHERE action IN ('clue.remind', 'clue.escalate') AND subject = %s ORDER BY seq",
            (f"clue:{clue_id}",),
        ).fetchall()
        pushed = conn.execute(
            "SELECT change || ': ' || (body->>'status') FROM outbox"
            " WHERE kind = 'clue' AND subject = %s AND change IN ('remind', 'escalate') ORDER BY id",
            (clue_id,),
        ).fetchall()
    return trail, [str(r[0]) for r in logged], [str(r[0]) for r in pushed]


@pytest.fixture(scope="module")
def food_plant() -> Deployment:
    return load_config(FOOD_PLANT).deployment


def test_reminded_at_the_deadline_escalated_to_the_supervisor_after_the_delay(
    db: Database, food_plant: Deployment, clock: Clock
) -> None:
    pipeline = Pipeline(food_plant, "0" * 64, clock=clock)
    issued = clock.now  # 10:00 in Asia/Shanghai; a class-2 clue: claim in 4 h, feedback in 3 days
    taken = take(db, pipeline, event("rodent-1", issued, RODENT))
    own = take(db, pipeline, event("smoking-1", issued, SMOKING))  # the bureau's own, never late
    assert taken.clue_id is not None and own.clue_id is not None
    clue_id = taken.clue_id
    claim_by, feedback_by = issued + timedelta(hours=4), issued + timedelta(days=3)

    assert escalate_overdue(db, food_plant, claim_by) == Chased()  # late only after the deadline
    reminded = escalate_overdue(db, food_plant, claim_by + timedelta(seconds=1))
    assert reminded == Chased(
        [
            Reminder(clue_id, "xipu-station", "claim", claim_by),
            Reminder(own.clue_id, "market-bureau", "claim", claim_by),
        ]
    )
    with db.transaction() as conn:  # the bureau's own clue answered: only the station's is left late
        clues.claim(
            conn, own.clue_id, "market-bureau:li", claim_by + timedelta(minutes=5), department="market-bureau"
        )
    assert escalate_overdue(db, food_plant, claim_by + timedelta(hours=2)) == Chased()  # 2 h after: not yet
    with db.transaction() as conn, pytest.raises(RecordNotFound):  # not the bureau's before the escalation
        clues.get_clue(conn, clue_id, "market-bureau", supervising=True)
    escalated = escalate_overdue(db, food_plant, claim_by + timedelta(hours=2, seconds=1))
    assert escalated == Chased([], [Escalation(clue_id, "xipu-station", "market-bureau", "claim", claim_by)])
    assert escalate_overdue(db, food_plant, claim_by + timedelta(hours=5)) == Chased()  # once
    assert steps(db, clue_id) == (
        [
            ("remind", "issued", "超过认领时限（2026-11-23 14:00:00 +08:00）未认领，催办"),
            (
                "escalate",
                "issued",
                "超过认领时限（2026-11-23 14:00:00 +08:00）仍未认领，提请成都市郫都区市场监督管理局督办",
            ),
        ],
        ["clue.remind: claim", "clue.escalate: claim to market-bureau"],
        ["remind: issued", "escalate: issued"],
    )

    with db.transaction() as conn:  # the supervisor reads it; the station's other clues stay its own
        assert clues.get_clue(conn, clue_id, "market-bureau", supervising=True).department == "xipu-station"
        listed = [c.id for c in clues.list_clues(conn, department="market-bureau", supervising=True)]
        assert listed == [clue_id, own.clue_id] or listed == [own.clue_id, clue_id]
        assert [c.id for c in clues.list_clues(conn, department="market-bureau")] == [own.clue_id]
        with pytest.raises(RecordNotFound):  # acting on it is the station's
            clues.claim(
                conn, clue_id, "market-bureau:li", claim_by + timedelta(hours=3), department="market-bureau"
            )
        with pytest.raises(RecordNotFound):
            clues.get_clue(conn, own.clue_id, "xipu-station", supervising=True)

    with db.transaction() as conn:  # claimed late: the feedback deadline is chased on its own
        clues.claim(
            conn, clue_id, "xipu-station:wang", claim_by + timedelta(hours=3), department="xipu-station"
        )
    late = escalate_overdue(db, food_plant, feedback_by + timedelta(minutes=1))
    assert late == Chased(  # the bureau's own route names no supervisor: reminded only, ever
        [
            Reminder(clue_id, "xipu-station", "feedback", feedback_by),
            Reminder(own.clue_id, "market-bureau", "feedback", feedback_by),
        ]
    )
    with db.transaction() as conn:  # answered within the 2 hours: not escalated again
        clues.handle(
            conn, clue_id, "xipu-station:wang", feedback_by + timedelta(hours=1), department="xipu-station"
        )
        clues.feed_back(
            conn, clue_id, "xipu-station:wang", feedback_by + timedelta(hours=1), "confirmed", "traps set",
            department="xipu-station",
        )  # fmt: skip
    assert escalate_overdue(db, food_plant, feedback_by + timedelta(days=30)) == Chased()
    assert [s[0] for s in steps(db, clue_id)[0]] == ["remind", "escalate", "remind"]


def test_two_hubs_on_one_database_remind_each_clue_once(
    db: Database, pipeline: Pipeline, clock: Clock, demo_config: Deployment, tmp_path: Path
) -> None:
    ids = gas_clues(db, pipeline, clock, 6)
    late = clock.now + timedelta(hours=1)
    other = open_database(db.dsn, tmp_path, pool_size=2)  # a second hub process's pool
    start = threading.Barrier(2)
    done: dict[str, Chased] = {}

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
    reminded = [r.clue_id for r in done["one"].reminded + done["two"].reminded]
    assert sorted(reminded) == ids  # every clue, by one hub or the other, none by both
    for clue_id in ids:
        trail, logged, pushed = steps(db, clue_id)
        assert (len(trail), logged, pushed) == (1, ["clue.remind: claim"], ["remind: issued"])
    with db.transaction() as conn:
        assert audit.verify(conn).intact


def test_the_hubs_tick_chases_and_a_restarted_hub_not_again(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the config's evidence folder is relative
    loaded = load_config(FOOD_PLANT)
    dsn = server.create_database()
    try:
        hub = Hub.start(loaded, Settings(data_dir=tmp_path), dsn=dsn)
        try:
            now = hub.pipeline.clock()
            taken = hub.take(Event.model_validate({"id": "tick-1", "time": now, **RODENT}))
            assert taken.clue_id is not None
            hub.upkeep(now + timedelta(hours=3, minutes=59))
            assert steps(hub.db, taken.clue_id) == ([], [], [])
            hub.upkeep(now + timedelta(hours=4, minutes=1))
            assert steps(hub.db, taken.clue_id)[2] == ["remind: issued"]
            with hub.db.transaction() as conn:  # the tick also rolled the statistics up
                assert conn.execute("SELECT count(*) FROM statistics_dirty").fetchone() == (0,)
                rolled = conn.execute("SELECT source, alerts FROM alert_rollups WHERE span = 'day'")
                assert rolled.fetchall() == [("camera:canteen-storeroom", 1)]
        finally:
            hub.close()
        again = Hub.start(loaded, Settings(data_dir=tmp_path), dsn=dsn)
        try:
            again.upkeep(now + timedelta(hours=7))  # down through the 2 hours: reminded once, escalated
            assert steps(again.db, taken.clue_id)[1:] == (
                ["clue.remind: claim", "clue.escalate: claim to market-bureau"],
                ["remind: issued", "escalate: issued"],
            )
        finally:
            again.close()
    finally:
        server.drop_database(dsn)


@pytest.mark.parametrize(
    ("route", "path", "message"),
    [
        ({"escalate_to": "police"}, "routing[0].escalate_to", "unknown department 'police'"),
        ({"escalate_to": "xipu-station"}, "routing[0].escalate_to", "'xipu-station' is the route's own"),
        ({"escalate_after": "1h"}, "routing[0].escalate_after", "escalate_after without escalate_to"),
        (
            {"escalate_to": "market-bureau", "escalate_after": "0s"},
            "routing[0].escalate_after",
            "greater than 0",
        ),
    ],
)
def test_routing_refuses_a_supervisor_that_makes_no_sense(
    route: dict[str, str], path: str, message: str
) -> None:
    config = yaml.safe_load(FOOD_PLANT.read_text("utf-8"))
    first = config["routing"][0]
    for key in ("escalate_to", "escalate_after"):
        first.pop(key, None)
    first.update(route)
    with pytest.raises(ConfigError) as caught:
        parse_config(yaml.safe_dump(config, allow_unicode=True))
    assert [(p.path, message in p.message) for p in caught.value.problems] == [(path, True)], caught.value
