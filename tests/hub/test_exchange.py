"""Supervision-action records pushed to the provincial exchange (an `exchange` output) on a real
PostgreSQL, to an exchange of the test's own: records only, in batches, in the exchange layout
(cd_operation I/U/D, cd_source, cd_time, cd_batch), a finding judged false sent as an update that
says no problem, every change once and in order per record through an outage."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from hub import alerts, clues
from hub.config import ConfigError, Deployment, parse_config
from hub.config.outputs import Exchange as ExchangeOutput
from hub.delivery import Deliverer, OutputError, destinations
from hub.host import free_port
from hub.pipeline import Pipeline
from hub.store.db import Database
from tests.conftest import REPO, Clock
from tests.hub.feed import GAS, HALL, WARM, event, take
from tests.hub.receiver import TOKEN, Exchange

ENV = {"OFFSITE_TEST_EXCHANGE": TOKEN}


@pytest.fixture
def exchange() -> Iterator[Exchange]:
    started = Exchange(free_port())
    yield started
    started.stop()


def with_exchange(d: Deployment, port: int, batch: int) -> Deployment:
    output = ExchangeOutput(
        id="province",
        kind="exchange",
        url=f"http://127.0.0.1:{port}/exchange",
        token_env="OFFSITE_TEST_EXCHANGE",
        batch=batch,
        timeout=2.0,
        backoff=1.0,
        backoff_max=10.0,
        max_attempts=50,
    )
    return d.model_copy(update={"outputs": [output]})


def record_changes(db: Database) -> list[tuple[int, int]]:
    """(outbox id, record id) of every record change, oldest first."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, subject FROM outbox WHERE kind = 'record' ORDER BY id").fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def test_records_reach_the_exchange_in_batches_and_a_false_alarm_as_an_update(
    db: Database, pipeline: Pipeline, clock: Clock, exchange: Exchange
) -> None:
    rounds = Deliverer(
        db, destinations(with_exchange(pipeline.deployment, exchange.port, 2), ENV), clock, random.Random(3)
    )
    exchange.failing = True
    exchange.start()
    taken = {}
    for i, base in enumerate((GAS, WARM, HALL)):
        taken[base["rule"]] = take(db, pipeline, event(f"x-{i}", clock.now, base, problem=True))
        clock.advance(seconds=1)
    with db.transaction() as conn:
        gas, warm, hall = (taken[b["rule"]] for b in (GAS, WARM, HALL))
        assert gas.alert_id and warm.clue_id and hall.clue_id
        alerts.dismiss(conn, gas.alert_id, "operator:li", clock.now, "a cook's lighter")  # a false alarm
        clues.claim(conn, warm.clue_id, "market:wang", clock.now)
        clues.handle(conn, warm.clue_id, "market:wang", clock.now, department="market")
        clues.feed_back(
            conn, warm.clue_id, "market:wang", clock.now, "false_alarm", "the probe was in the doorway"
        )
        clues.claim(conn, hall.clue_id, "hall-office:zhao", clock.now)
        clues.handle(conn, hall.clue_id, "hall-office:zhao", clock.now)
        clues.feed_back(
            conn, hall.clue_id, "hall-office:zhao", clock.now, "confirmed", "the clerk was away"
        )  # unchanged
        pipeline.attach(conn, "x-2", ["b" * 64], "edge:test")  # a corrected record

    for _ in range(3):  # the exchange answers 500: retried, nothing taken
        rounds.round()
        clock.advance(seconds=11)
    assert not exchange.taken
    exchange.failing = False
    for _ in range(20):
        clock.advance(seconds=11)
        rounds.round()
    changes = record_changes(db)
    assert len(changes) == 6  # three inserts, two false alarms restated, one evidence added
    assert exchange.unauthorised == 0 and set(exchange.taken.values()) == {1}
    assert sorted(exchange.taken) == sorted(f"msg_{i}" for i, _ in changes)
    assert max(len(b) for b in exchange.batches) == 2  # the destination's batch size
    arrived = {r["cd_id"]: r for r in exchange.records}
    order = [arrived[f"msg_{i}"]["record_id"] for i, _ in changes]
    per_record: dict[str, list[str]] = {}
    for cd_id in (r["cd_id"] for r in exchange.records):
        per_record.setdefault(arrived[cd_id]["record_id"], []).append(cd_id)
    for record_id, ids in per_record.items():  # each record's changes arrived in the order made
        assert ids == [f"msg_{i}" for i, _ in changes if arrived[f"msg_{i}"]["record_id"] == record_id]
    assert len(set(order)) == 3

    final = {r["record_id"]: r for r in exchange.records}  # the last change of each record
    for r in exchange.records:
        final[r["record_id"]] = r
    by_rule = {r["rule"]: r for r in final.values()}
    assert (by_rule["coldstore-gas-high"]["cd_operation"], by_rule["coldstore-gas-high"]["result"]) == (
        "U",
        "no_problem",
    )
    assert (by_rule["coldstore-too-warm"]["cd_operation"], by_rule["coldstore-too-warm"]["result"]) == (
        "U",
        "no_problem",
    )
    assert (by_rule["window-absence"]["cd_operation"], by_rule["window-absence"]["result"]) == (
        "U",
        "problem_found",
    )
    assert by_rule["window-absence"]["evidence"][-1] == "b" * 64
    first = exchange.records[0]
    assert first["cd_operation"] == "I" and first["result"] == "problem_found"
    assert list(first)[:4] == ["cd_id", "cd_operation", "cd_source", "cd_time"]
    assert "id" not in first and "batch_id" not in first and first["item_code"].isdigit()


def test_a_verdict_taken_back_restores_the_record(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    taken = take(db, pipeline, event("y-1", clock.now, WARM, problem=True))
    assert taken.clue_id is not None

    def result() -> tuple[str, str]:
        with db.transaction() as conn:
            row = conn.execute(
                "SELECT result, operation FROM supervision_actions WHERE event_id = 'y-1'"
            ).fetchone()
        assert row is not None
        return str(row[0]), str(row[1])

    assert result() == ("problem_found", "I")
    with db.transaction() as conn:
        clues.claim(conn, taken.clue_id, "market:wang", clock.now)
        clues.handle(conn, taken.clue_id, "market:wang", clock.now)
        clues.feed_back(conn, taken.clue_id, "market:wang", clock.now, "false_alarm", "probe in the doorway")
    assert result() == ("no_problem", "U")
    with db.transaction() as conn:
        clues.reopen(conn, taken.clue_id, "operator:li", clock.now, "the door log shows it open for an hour")
    assert result() == ("problem_found", "U")
    assert [c for _, c in record_changes(db)] == [c for _, c in record_changes(db)][:3] and len(
        record_changes(db)
    ) == 3


def test_an_exchange_needs_its_token_and_takes_only_records(pipeline: Pipeline) -> None:
    deployment = with_exchange(pipeline.deployment, 1, 10)
    with pytest.raises(
        OutputError, match=r"outputs\[0\] \(province\): environment variable OFFSITE_TEST_EXCHANGE"
    ):
        destinations(deployment, {})
    [target] = destinations(deployment, ENV)
    assert target.wants("record", "lintong-hall", None, None)
    assert not target.wants("alert", "lintong-hall", None, "major") and not target.wants(
        "clue", None, None, None
    )

    demo = (REPO / "configs" / "demo.yaml").read_text(encoding="utf-8")
    output = (
        "  - {id: province, kind: exchange, url: 'https://exchange.example/api', token_env: EXCHANGE_TOKEN"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(demo + f"outputs:\n{output}, secret_env: HOOK, batch: 0}}\n")
    assert sorted(p.path for p in caught.value.problems) == ["outputs[0].batch", "outputs[0].secret_env"]
