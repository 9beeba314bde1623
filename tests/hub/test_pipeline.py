"""Event intake: idempotence, alert dedup, cooldown, clearing, records and clues, on both servers."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from hub import clues
from hub.alerts import get_alert
from hub.config import Deployment
from hub.events import EventRejected, ForeignEvent, Outcome
from hub.pipeline import Pipeline, Taken
from hub.store.db import Database
from hub.workflow import CLUES
from tests.conftest import Clock
from tests.hub.feed import GAS, HALL, QUEUE, WARM, count, event, take


def test_same_event_twice_changes_nothing(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    e = event("e1", clock.now, GAS, evidence=["a" * 64])
    first = take(db, pipeline, e)
    tables = ("events", "alerts", "supervision_actions", "risk_clues", "audit_log", "alert_transitions")
    before = {t: count(db, t) for t in tables}
    second = take(db, pipeline, e)
    assert first.outcome is Outcome.OPENED
    assert second == Taken(Outcome.DUPLICATE, alert_id=first.alert_id)
    assert {t: count(db, t) for t in tables} == before


def test_repeats_update_one_alert(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    opened = take(db, pipeline, event("e1", clock.now, HALL, evidence=["a" * 64]))
    later = clock.now + timedelta(seconds=30)
    updated = take(db, pipeline, event("e2", later, HALL, evidence=["a" * 64, "b" * 64]))
    assert updated == Taken(Outcome.UPDATED, alert_id=opened.alert_id)
    assert count(db, "alerts") == 1
    assert count(db, "supervision_actions") == 1 and count(db, "risk_clues") == 1
    with db.transaction() as conn:
        assert opened.alert_id is not None
        alert = get_alert(conn, opened.alert_id)
    assert (alert.count, alert.last_seen, alert.first_seen) == (2, later, clock.now)
    assert alert.evidence == ["a" * 64, "b" * 64]
    assert (alert.first_event, alert.last_event) == ("e1", "e2")


def test_a_late_repeat_does_not_move_last_seen_back(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    opened = take(db, pipeline, event("e1", clock.now, HALL))
    take(db, pipeline, event("e0", clock.now - timedelta(minutes=5), HALL))
    with db.transaction() as conn:
        assert opened.alert_id is not None
        assert get_alert(conn, opened.alert_id).last_seen == clock.now


def test_clear_closes_and_cooldown_suppresses(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    t0 = clock.now - timedelta(minutes=10)
    opened = take(db, pipeline, event("g1", t0, GAS))
    closed = take(db, pipeline, event("g2", t0 + timedelta(minutes=1), GAS, cleared=True))
    assert closed == Taken(Outcome.CLOSED, alert_id=opened.alert_id)
    assert (
        take(db, pipeline, event("g3", t0 + timedelta(minutes=2), GAS, cleared=True)).outcome
        is Outcome.NO_ALERT
    )
    # The rule's cooldown is 300 s after the alert ended at t0 + 1 min.
    assert take(db, pipeline, event("g4", t0 + timedelta(minutes=5), GAS)).outcome is Outcome.SUPPRESSED
    reopened = take(db, pipeline, event("g5", t0 + timedelta(minutes=6, seconds=1), GAS))
    assert reopened.outcome is Outcome.OPENED and reopened.alert_id != opened.alert_id
    with db.transaction() as conn:
        assert opened.alert_id is not None
        first = get_alert(conn, opened.alert_id)
    assert (first.status, first.ended_at) == ("closed", t0 + timedelta(minutes=1))
    assert count(db, "risk_clues") == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": "no-such-rule"}, "unknown rule 'no-such-rule'"),
        ({"site": "nowhere"}, "unknown site 'nowhere'"),
        # Bound to a site through the deployment, whoever sends it (an edge box, vision, the ingest):
        ({"site": "lintong-hall"}, "rule 'coldstore-gas-high' belongs to site lintong-coldstore"),
        ({"source": "sensor:coldstore-temp"}, "rule 'coldstore-gas-high' watches sensor:coldstore-gas"),
        ({"source": "camera:hall-window-1"}, "watches sensor:coldstore-gas"),
        ({**HALL, "object": "91610115MA6W123458"}, "object 91610115MA6W123458 is not supervised at site"),
    ],
)
def test_events_outside_the_deployment_are_refused(
    db: Database, pipeline: Pipeline, clock: Clock, change: dict[str, str], message: str
) -> None:
    with pytest.raises(EventRejected, match=message):
        take(db, pipeline, event("x1", clock.now, {**GAS, **change}))
    assert count(db, "events") == 0


def test_times_before_2000_are_refused_by_the_event_itself() -> None:
    with pytest.raises(ValidationError, match="is before 2000-01-01"):
        event("old", datetime(1, 1, 1, 0, 10, tzinfo=timezone(timedelta(hours=1))), GAS)


def test_events_from_a_clock_in_the_future_are_refused(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    take(db, pipeline, event("ok", clock.now + timedelta(minutes=4), GAS))  # small skew is fine
    with pytest.raises(EventRejected, match="ahead of the hub's clock"):
        take(db, pipeline, event("late", clock.now + timedelta(minutes=6), GAS))
    assert count(db, "events") == 1


def test_supervision_action_record_fields(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    taken = take(db, pipeline, event("w1", clock.now, WARM, evidence=["c" * 64]))
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT item_code, list_code, department_code, department_name, object_name, object_code,"
            " area_code, method, result, inspected_at, evidence, batch_id, operation, exchange_source,"
            " alert_id FROM supervision_actions WHERE id = %s",
            (taken.action_id,),
        ).fetchone()
    assert row == (
        "61011500200003", "6101150020000301", "11610115MB0135867H", "临潼区市场监督管理局",
        "西安骊山冷链物流有限公司", "91610115MA6W123458", "610115", "non_site", "problem_found",
        clock.now, ["c" * 64], "offsite-20261123", "I", "offsite", taken.alert_id,
    )  # fmt: skip


def test_inspection_without_problem_is_recorded_without_alert(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    taken = take(db, pipeline, event("i1", clock.now, HALL, problem=False))
    assert taken.outcome is Outcome.INSPECTED and taken.alert_id is None and taken.action_id is not None
    assert count(db, "alerts") == 0 and count(db, "risk_clues") == 0
    with db.transaction() as conn:
        row = conn.execute("SELECT result FROM supervision_actions").fetchone()
    assert row == ("no_problem",)


def test_rule_without_item_raises_alert_only(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    taken = take(db, pipeline, event("q1", clock.now, QUEUE))
    assert taken == Taken(Outcome.OPENED, alert_id=taken.alert_id)
    assert count(db, "supervision_actions") == 0 and count(db, "risk_clues") == 0


@pytest.mark.parametrize(
    ("base", "department", "route", "risk_class", "claim", "feedback"),
    [
        (HALL, "hall-office", "hall-to-office", 3, timedelta(days=1), timedelta(days=15)),
        (WARM, "market", "cold-chain-to-market", 2, timedelta(hours=4), timedelta(days=7)),
        (GAS, "market", "cold-chain-to-market", 1, timedelta(minutes=30), timedelta(hours=24)),
    ],
)
def test_clues_are_routed_with_deadlines(
    db: Database,
    pipeline: Pipeline,
    clock: Clock,
    base: dict[str, str],
    department: str,
    route: str,
    risk_class: int,
    claim: timedelta,
    feedback: timedelta,
) -> None:
    taken = take(db, pipeline, event("r1", clock.now - timedelta(minutes=3), base))
    assert taken.clue_id is not None
    with db.transaction() as conn:
        clue = clues.get_clue(conn, taken.clue_id)
        trail = CLUES.history(conn, taken.clue_id)
    assert (clue.department, clue.route_id, clue.risk_class, clue.status) == (
        department,
        route,
        risk_class,
        "issued",
    )
    assert (clue.claim_deadline - clue.issued_at, clue.feedback_deadline - clue.issued_at) == (
        claim,
        feedback,
    )
    assert clue.issued_at == clock.now
    assert [(t.action, t.from_status, t.to_status, t.actor) for t in trail] == [
        ("issue", None, "issued", f"rule:{base['rule']}")
    ]


def test_concurrent_repeats_make_one_alert(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    results: list[Taken] = []
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            results.append(take(db, pipeline, event(f"c{n}", clock.now + timedelta(seconds=n), HALL)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.outcome.value for r in results) == ["opened"] + ["updated"] * 7
    assert len({r.alert_id for r in results}) == 1
    with db.transaction() as conn:
        row = conn.execute("SELECT count FROM alerts").fetchone()
    assert row == (8,)


def test_auto_close_ends_alerts_without_repeats(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    taken = take(db, pipeline, event("q1", clock.now, QUEUE))
    clock.advance(minutes=9)
    with db.transaction() as conn:
        assert pipeline.close_stale(conn) == []
    clock.advance(minutes=2)
    with db.transaction() as conn:
        assert pipeline.close_stale(conn) == [taken.alert_id]
        assert taken.alert_id is not None
        assert get_alert(conn, taken.alert_id).status == "closed"


@pytest.mark.parametrize(
    ("source", "site", "refused"),
    [
        ("edge:box-1", "lintong-hall", None),  # the box's own logic
        ("camera:hall-window-1", "lintong-hall", None),
        ("sensor:coldstore-gas", "lintong-hall", "sensor:coldstore-gas stands in site lintong-coldstore"),
        ("camera:unknown", "lintong-hall", "camera:unknown is no device of the deployment"),
        ("edge:box-1", "lintong-coldstore", "rule 'hall-box' belongs to site lintong-hall"),
    ],
)
def test_an_external_rule_takes_findings_of_its_own_site_only(
    demo_config: Deployment, clock: Clock, source: str, site: str, refused: str | None
) -> None:
    external = {"id": "hall-box", "type": "external", "name": "大厅盒子自带算法", "site": "lintong-hall"}
    document = demo_config.model_dump()
    deployment = Deployment.model_validate({**document, "rules": [*document["rules"], external]})
    check = Pipeline(deployment, "0" * 64).check
    finding = event("x1", clock.now, {"source": source, "site": site, "rule": "hall-box"})
    if refused is None:
        assert check(finding, clock.now).id == "hall-box"
    else:
        with pytest.raises(ForeignEvent, match=refused):
            check(finding, clock.now)
