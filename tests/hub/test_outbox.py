"""The outbox and its delivery on a real PostgreSQL, to a real HTTP receiver of the test's own:
every change written in its own transaction, delivered exactly once by idempotency key, in order
per record, signed; retried with back-off through an outage (500s, then connection refused, then
slow answers), a slow destination holding up no other; dead-lettered and retried."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from hub import alerts, clues, outbox
from hub.config import ConfigError, Deployment, load_config, parse_config
from hub.config.outputs import Webhook
from hub.delivery import Deliverer, OutputError, Round, dead_letters, destinations, fan_out, prune, retry
from hub.escalation import escalate_overdue
from hub.host import free_port, wait_for, wait_until
from hub.pipeline import Pipeline
from hub.store.db import Database
from tests.conftest import REPO, Clock
from tests.hub.feed import GAS, HALL, WARM, event, take
from tests.hub.receiver import SECRET, Receiver

ENV = {"OFFSITE_TEST_HOOK": SECRET}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


def with_outputs(d: Deployment, port: int, **extra: Any) -> Deployment:
    hook = Webhook(
        kind="webhook",
        url=f"http://127.0.0.1:{port}/hooks",
        secret_env="OFFSITE_TEST_HOOK",
        **({"id": "province", "timeout": 2.0} | extra),
    )
    return d.model_copy(update={"outputs": [hook]})


def outbox_ids(db: Database) -> list[tuple[int, str, int, str]]:
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, kind, subject, change FROM outbox ORDER BY id").fetchall()
    return [(int(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]


def findings(
    db: Database, pipeline: Pipeline, clock: Clock, n: int, deliver: Callable[[], object], prefix: str = "f"
) -> None:
    """n findings through the real pipeline, each followed by the changes a day brings to it:
    evidence attached (record update), the clue claimed, the alert acknowledged, the cause
    ended; `deliver` (a delivery round) after each step."""
    for i in range(n):
        base = (GAS, WARM, HALL)[i % 3]
        taken = take(db, pipeline, event(f"{prefix}-{i}", clock.now, base, problem=True))
        deliver()
        with db.transaction() as conn:
            pipeline.attach(conn, f"{prefix}-{i}", ["a" * 64], "edge:test")
            if taken.clue_id is not None:
                clues.claim(conn, taken.clue_id, "market:wang", clock.now)
            assert taken.alert_id is not None
            alerts.acknowledge(conn, taken.alert_id, "operator:li", clock.now)
        deliver()
        clock.advance(seconds=30)
        take(db, pipeline, event(f"{prefix}-{i}-end", clock.now, base, problem=True, cleared=True))
        deliver()
        clock.advance(seconds=400)  # past the rules' cooldown


def test_a_change_and_its_outbox_row_commit_or_roll_back_together(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn:
        pipeline.take(conn, event("gone", clock.now, GAS, problem=True))
        raise RuntimeError("the caller fails after the pipeline")
    assert outbox_ids(db) == []
    taken = take(db, pipeline, event("kept", clock.now, GAS, problem=True))
    assert [(k, c) for _, k, _, c in outbox_ids(db)] == [
        ("alert", "open"),
        ("record", "insert"),
        ("clue", "issue"),
    ]
    with db.transaction() as conn:
        # The record's row, written by its own INSERT (outbox.folded), holds what enqueue would.
        folded = conn.execute(
            "SELECT body, severity, department FROM outbox WHERE change = 'insert'"
        ).fetchone()
        outbox.enqueue(conn, "record", outbox_ids(db)[1][2], "insert", clock.now)
        assert (
            conn.execute("SELECT body, severity, department FROM outbox ORDER BY id DESC").fetchone()
            == folded
        )
        assert folded is not None and folded[0]["result"] == "problem_found" and folded[1] == "critical"
        conn.rollback()
        assert taken.clue_id is not None
        clues.claim(conn, taken.clue_id, "market:wang", clock.now)
        body = conn.execute("SELECT body FROM outbox WHERE change = 'claim'").fetchone()
    assert body is not None and body[0]["status"] == "claimed"
    with pytest.raises(ValueError, match="RETURNING id"):
        outbox.folded("INSERT INTO alerts DEFAULT VALUES", "alert", "open")


def test_every_change_arrives_once_in_order_signed_through_an_outage(
    db: Database, pipeline: Pipeline, clock: Clock, receiver: Receiver
) -> None:
    # The two minutes of outage, on the injected clock: each finding's day takes 7 min.
    deployment = with_outputs(
        pipeline.deployment, receiver.port, max_attempts=50, backoff=1.0, backoff_max=60.0, timeout=0.2
    )
    rounds = Deliverer(db, destinations(deployment, ENV), clock, random.Random(7))
    receiver.failing = True
    receiver.start()
    findings(db, pipeline, clock, 6, rounds.round)  # 500s
    assert receiver.refused_500 > 0 and not receiver.taken
    receiver.stop()
    findings(db, pipeline, clock, 6, rounds.round, prefix="g")  # connection refused
    receiver.failing = False
    receiver.slow, receiver.delay = 10**6, 0.5  # answers after the sender gave up
    receiver.start()
    findings(db, pipeline, clock, 3, rounds.round, prefix="h")
    assert wait_until(lambda: bool(receiver.late), timeout=10)
    assert receiver.taken.keys() <= receiver.late  # nothing answered in time: every try timed out
    receiver.slow = 0
    for _ in range(200):
        clock.advance(seconds=61)
        if rounds.round().delivered == 0 and len(receiver.taken) == len(outbox_ids(db)):
            break
    changes = outbox_ids(db)
    assert len(changes) == 15 * 7  # open, insert, issue, update, claim, acknowledge, close
    assert receiver.bad_signatures == 0
    assert sorted(receiver.taken) == sorted(f"msg_{i}" for i, *_ in changes)
    # Taken twice only what was answered too late: sent again under the same key, kept once.
    assert {m for m, n in receiver.taken.items() if n > 1} <= receiver.late
    assert sorted(b["id"] for b in receiver.bodies) == sorted(receiver.taken)
    per_record: dict[tuple[str, int], list[int]] = {}
    for body in receiver.bodies:
        per_record.setdefault((body["kind"], body["subject"]), []).append(int(body["id"][4:]))
    expected: dict[tuple[str, int], list[int]] = {}
    for i, kind, subject, _ in changes:
        expected.setdefault((kind, subject), []).append(i)
    assert per_record == expected


def test_a_slow_receiver_is_retried_not_doubled_and_holds_up_no_other_destination(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    slow, quick = Receiver(free_port(), hold_at=1), Receiver(free_port())

    def deliverer(slow_timeout: float) -> Deliverer:
        hooks = [
            with_outputs(
                pipeline.deployment, r.port, id=name, timeout=t, backoff=1.0, backoff_max=2.0
            ).outputs[0]
            for r, name, t in ((slow, "slow", slow_timeout), (quick, "quick", 10.0))
        ]
        deployment = pipeline.deployment.model_copy(update={"outputs": hooks})
        return Deliverer(db, destinations(deployment, ENV), clock, random.Random(7))

    for r in (slow, quick):
        r.start()
    try:
        take(db, pipeline, event("gas", clock.now, GAS, problem=True))  # three changes
        done: list[Round] = []
        first = threading.Thread(target=lambda: done.append(deliverer(60.0).round()))
        first.start()
        # The quick receiver takes everything while the slow one still sits on its first change.
        wait_for(
            lambda: len(quick.taken) == 3 and slow.held.is_set(),
            timeout=30,
            failure="held up by the slow one",
        )
        assert not done
        slow.release.set()  # it answers 503 at last
        first.join(timeout=30)
        assert (done[0].delivered, done[0].failed) == (3, 1) and slow.requests == 1

        # Then it answers after its timeout (0.3 s): given up on, tried once, its other changes
        # put off; it did take that change, which comes again under the same key.
        rounds = deliverer(0.3)
        slow.slow, slow.delay = 1, 1.0
        clock.advance(seconds=2)
        assert (rounds.round().failed, slow.requests) == (1, 2)
        assert wait_until(lambda: bool(slow.late), timeout=10)
        assert rounds.round().delivered == 2  # the other records' changes wait for no one
        clock.advance(seconds=2)
        assert rounds.round().delivered == 1  # the timed-out one, after its back-off
    finally:
        for r in (slow, quick):
            r.stop()
    assert sorted(b["id"] for b in slow.bodies) == sorted(quick.taken)  # each kept once
    assert slow.taken == {m: 1 + (m in slow.late) for m in quick.taken} and len(slow.late) == 1
    assert set(quick.taken.values()) == {1}


def test_dead_letter_after_the_retry_limit_then_retry_delivers(
    db: Database, pipeline: Pipeline, clock: Clock, receiver: Receiver
) -> None:
    deployment = with_outputs(
        pipeline.deployment, receiver.port, max_attempts=3, backoff=10.0, backoff_max=20.0
    )
    rounds = Deliverer(db, destinations(deployment, ENV), clock, random.Random(7))
    findings(db, pipeline, clock, 1, rounds.round)  # nobody listens
    for _ in range(20):  # a destination that fails is tried once a round
        clock.advance(seconds=30)
        rounds.round()
    with db.transaction() as conn:
        dead = dead_letters(conn)
    # The first change of each record is dead; the later ones wait behind it, never tried.
    assert sorted((d.kind, d.change, d.attempts) for d in dead) == [
        ("alert", "open", 3),
        ("clue", "issue", 3),
        ("record", "insert", 3),
    ]
    assert all("Connection refused" in (d.last_error or "") for d in dead)
    receiver.start()
    clock.advance(seconds=3600)
    assert rounds.round().delivered == 0  # dead stays dead
    with db.transaction() as conn:
        assert all(retry(conn, d.id, "admin:root", clock.now) for d in dead)
        assert not retry(conn, dead[0].id, "admin:root", clock.now)  # no longer dead
    while rounds.round().delivered:
        pass
    assert sorted(receiver.taken) == sorted(f"msg_{i}" for i, *_ in outbox_ids(db))
    changes = [(b["kind"], b["change"]) for b in receiver.bodies if b["kind"] == "alert"]
    assert changes == [("alert", "open"), ("alert", "acknowledge"), ("alert", "close")]


def test_prune_keeps_what_is_not_delivered(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    take(db, pipeline, event("gas", clock.now, GAS, problem=True))
    targets = destinations(with_outputs(pipeline.deployment, 9, kinds=["clue"]), ENV)
    with db.transaction() as conn:
        assert prune(conn, clock.advance(days=30)) == 0  # not fanned out yet
        fan_out(conn, targets)
        assert prune(conn, clock.now) == 2  # the alert's and the record's change: nobody wanted them
        conn.execute("UPDATE outbox_deliveries SET state = 'dead'")
        assert prune(conn, clock.now) == 0
        conn.execute("UPDATE outbox_deliveries SET state = 'delivered'")
        assert prune(conn, clock.now) == 1
        assert conn.execute("SELECT count(*) FROM outbox_deliveries").fetchone() == (0,)


def test_without_destinations_the_rows_are_marked_and_pruned(
    db: Database, pipeline: Pipeline, clock: Clock, receiver: Receiver
) -> None:
    take(db, pipeline, event("gas", clock.now, GAS, problem=True))
    assert Deliverer(db, [], clock).round().fanned == 3
    # A destination configured afterwards gets none of them, only what changes from then on: a
    # row written while no destination is configured is never delivered to anyone.
    receiver.start()
    later = Deliverer(db, destinations(with_outputs(pipeline.deployment, receiver.port), ENV), clock)
    assert later.round() == Round()
    take(db, pipeline, event("hall", clock.now, HALL, problem=True))
    new = [f"msg_{i}" for i, *_ in outbox_ids(db)[3:]]
    assert new and later.round().delivered == len(new) and sorted(receiver.taken) == sorted(new)
    with db.transaction() as conn:
        assert prune(conn, clock.advance(days=8)) == 3 + len(new)


COLD, HALL_SITE = "lintong-coldstore", "lintong-hall"
ALL = {(kind, site) for kind in ("alert", "clue", "record") for site in (COLD, HALL_SITE)}


@pytest.mark.parametrize(
    ("filters", "wanted"),
    [
        ({}, ALL),
        ({"kinds": ["clue"]}, {("clue", COLD), ("clue", HALL_SITE)}),
        ({"sites": [COLD]}, {("alert", COLD), ("clue", COLD), ("record", COLD)}),
        ({"departments": ["market"]}, {("clue", COLD), ("record", COLD)}),  # alerts have none
        ({"severities": ["info"]}, set()),
    ],
)
def test_filters_per_destination(
    db: Database, pipeline: Pipeline, clock: Clock, filters: dict[str, Any], wanted: set[tuple[str, str]]
) -> None:
    take(db, pipeline, event("gas", clock.now, GAS, problem=True))
    take(db, pipeline, event("hall", clock.now, HALL, problem=True))
    targets = destinations(with_outputs(pipeline.deployment, 9, **filters), ENV)
    with db.transaction() as conn:
        assert fan_out(conn, targets) == len(outbox_ids(db))
        assert fan_out(conn, targets) == 0  # each row fanned out once
        rows = conn.execute(
            "SELECT d.kind, o.site FROM outbox_deliveries d JOIN outbox o ON o.id = d.outbox_id"
        ).fetchall()
    assert {(str(k), str(s)) for k, s in rows} == wanted


def test_a_missing_secret_names_the_output_and_the_variable(pipeline: Pipeline) -> None:
    deployment = with_outputs(pipeline.deployment, 9)
    with pytest.raises(OutputError, match=r"outputs\[0\] \(province\).*OFFSITE_TEST_HOOK.*unset"):
        destinations(deployment, {})


def test_backoff_doubles_with_jitter_up_to_the_cap(pipeline: Pipeline) -> None:
    (target,) = destinations(with_outputs(pipeline.deployment, 9, backoff=5.0, backoff_max=60.0), ENV)
    rng = random.Random(1)
    for attempts, ceiling in enumerate([5, 10, 20, 40, 60, 60], start=1):
        waits = {target.backoff(attempts, rng).total_seconds() for _ in range(50)}
        assert ceiling / 2 <= min(waits) < max(waits) <= ceiling  # spread out, never past the cap


def test_outputs_refer_to_known_sites_and_departments_and_forbid_unknown_fields() -> None:
    demo = (REPO / "configs" / "demo.yaml").read_text(encoding="utf-8")
    hook = "  - {id: a, kind: webhook, url: 'http://h/x', secret_env: HOOK_SECRET"
    text = demo + f"outputs:\n{hook}, sites: [moon], departments: [police]}}\n{hook}}}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert [p.path for p in caught.value.problems] == [
        "outputs[1].id",
        "outputs[0].sites[0]",
        "outputs[0].departments[0]",
    ]
    with pytest.raises(ConfigError, match=r"outputs\[0\]\.secret"):
        parse_config(demo + f"outputs:\n{hook}, secret: plain-text-secret}}\n")


def test_two_workers_share_the_work_without_sending_a_change_twice(
    db: Database, pipeline: Pipeline, clock: Clock, receiver: Receiver
) -> None:
    targets = destinations(with_outputs(pipeline.deployment, receiver.port), ENV)
    receiver.start()
    stop = threading.Event()
    workers = [Deliverer(db, targets, clock, batch=5) for _ in range(2)]
    threads = [threading.Thread(target=w.run, args=(stop, 0.01)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        findings(db, pipeline, clock, 6, lambda: None)  # the changes; the workers deliver
        wait_for(lambda: len(receiver.taken) == len(outbox_ids(db)), timeout=30, failure="not all delivered")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert set(receiver.taken.values()) == {1}  # no change sent twice
    per_record: dict[tuple[str, int], list[int]] = {}
    for body in receiver.bodies:
        per_record.setdefault((body["kind"], body["subject"]), []).append(int(body["id"][4:]))
    assert all(ids == sorted(ids) for ids in per_record.values())
    with db.transaction() as conn:
        senders = conn.execute("SELECT count(DISTINCT state), min(state) FROM outbox_deliveries").fetchone()
    assert senders == (1, "delivered")


def test_a_supervising_departments_webhook_takes_the_clues_escalated_to_it(
    db: Database, clock: Clock
) -> None:
    food_plant = load_config(REPO / "configs" / "food_plant.yaml").deployment
    pipeline = Pipeline(food_plant, "0" * 64, clock=clock)
    # Canteen clues go to the station, escalated to the bureau 2 h after a missed claim deadline.
    rodent = {"source": "camera:canteen-storeroom", "site": "wangcong-canteen", "rule": "storeroom-rodent"}
    taken = take(db, pipeline, event("rodent", clock.now, rodent, problem=True))
    assert taken.clue_id is not None
    hooks = [
        with_outputs(food_plant, 9, id=department, departments=[department]).outputs[0]
        for department in ("market-bureau", "xipu-station")
    ]
    targets = destinations(food_plant.model_copy(update={"outputs": hooks}), ENV)
    claim_by = clock.now + timedelta(hours=4)
    escalate_overdue(db, food_plant, claim_by + timedelta(seconds=1))  # the station reminded
    escalate_overdue(db, food_plant, claim_by + timedelta(hours=2, seconds=1))  # the bureau pressed
    with db.transaction() as conn:
        clues.claim(
            conn, taken.clue_id, "xipu-station:wang", claim_by + timedelta(hours=3), department="xipu-station"
        )
        fan_out(conn, targets)
        rows = conn.execute(
            "SELECT d.destination, o.change, o.body->'supervisors' FROM outbox_deliveries d"
            " JOIN outbox o ON o.id = d.outbox_id WHERE d.kind = 'clue' ORDER BY o.id"
        ).fetchall()
    pushed: dict[str, list[str]] = {}
    for destination, change, _ in rows:
        pushed.setdefault(str(destination), []).append(str(change))
    # The bureau's webhook takes the escalation and what follows, not what came before it.
    assert pushed == {
        "xipu-station": ["issue", "remind", "escalate", "claim"],
        "market-bureau": ["escalate", "claim"],
    }
    assert rows[-1][2] == ["market-bureau"]
