"""Fusion rules of the food plant deployment: the cold-store door seen open while the store warms,
gas high in the kitchen with nobody there. Judged by event time, whatever order the parts arrive in,
on both servers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from harness.mosquitto import start_broker
from hub import clues
from hub.alerts import get_alert
from hub.config import Deployment, load_config, parse_config
from hub.events import Event, EventRejected, Outcome
from hub.host import wait_for
from hub.pipeline import Pipeline
from hub.records import Alert
from hub.sink import InProcessSink
from hub.store.db import Database
from iot.intake import BrokerAddress, SensorIngest
from tests.conftest import REPO, Clock
from tests.hub.feed import event, take
from tests.iot.test_intake import Publisher

DOOR = {"source": "camera:plant-coldstore-door", "site": "shuweiyuan-plant", "rule": "coldstore-door-open"}
WARMING = {"source": "sensor:coldstore-temp", "site": "shuweiyuan-plant", "rule": "coldstore-warming"}
GAS = {"source": "sensor:kitchen-gas", "site": "wangcong-canteen", "rule": "kitchen-gas-high"}
STAFF = {"source": "camera:canteen-kitchen", "site": "wangcong-canteen", "rule": "kitchen-attended"}
COLDSTORE = "coldstore-door-open-warming"
KITCHEN = "kitchen-gas-unattended"
SNAPSHOT, CLIP = "a" * 64, "c" * 64


@pytest.fixture(scope="module")
def food_plant() -> Deployment:
    return load_config(REPO / "configs" / "food_plant.yaml").deployment


@pytest.fixture
def plant(food_plant: Deployment, clock: Clock) -> Pipeline:
    return Pipeline(food_plant, "0" * 64, clock=clock)


def minutes(clock: Clock, n: float) -> datetime:
    """`n` minutes after a start an hour before the clock."""
    return clock.now - timedelta(hours=1) + timedelta(minutes=n)


def feed(db: Database, pipeline: Pipeline, *events: Event) -> None:
    for e in events:
        assert take(db, pipeline, e).outcome is not Outcome.DUPLICATE


def fused(db: Database, rule: str) -> list[Alert]:
    """The alerts of fusion `rule`, oldest first."""
    with db.transaction() as conn:
        rows = conn.execute("SELECT id FROM alerts WHERE rule = %s ORDER BY id", (rule,)).fetchall()
        return [get_alert(conn, int(row[0])) for row in rows]


def fusion_events(db: Database, rule: str) -> list[tuple[datetime, bool, dict[str, Any]]]:
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT time, cleared, payload FROM events WHERE rule = %s ORDER BY time, cleared", (rule,)
        ).fetchall()
    return [(t, bool(cleared), payload) for t, cleared, payload in rows]


def test_door_open_while_the_store_warms_is_one_finding_with_record_and_clue(
    db: Database, plant: Pipeline, clock: Clock
) -> None:
    # Either alone is no finding: the door open (and shut again) an hour before, the store warming
    # long after it.
    feed(db, plant, event("d0", minutes(clock, 0), DOOR), event("d0x", minutes(clock, 2), DOOR, cleared=True))
    feed(
        db,
        plant,
        event("w0", minutes(clock, 15), WARMING),
        event("w0x", minutes(clock, 17), WARMING, cleared=True),
    )
    assert fused(db, COLDSTORE) == []
    # Together, the door first: the fusion fires when the store starts warming.
    feed(db, plant, event("d1", minutes(clock, 30), DOOR, evidence=[SNAPSHOT]))
    feed(db, plant, event("w1", minutes(clock, 34), WARMING, payload={"rate": 0.5}))
    (alert,) = fused(db, COLDSTORE)
    assert (alert.status, alert.first_seen, alert.source) == ("open", minutes(clock, 34), f"rule:{COLDSTORE}")
    assert (alert.severity, alert.title) == (
        "major",
        "冷冻库门未关且库温上升：冷冻库门开启(视频识别)、冷冻库温度快速上升",
    )
    assert alert.evidence == [SNAPSHOT]
    # Its detail names its parts: their events and alerts, the door's snapshot, the sensor's curve.
    (_, _, payload), *_ = fusion_events(db, COLDSTORE)
    parts = {part["rule"]: part for part in payload["parts"]}
    assert parts["coldstore-door-open"]["event"] == "d1"
    assert parts["coldstore-door-open"]["evidence"] == [SNAPSHOT]
    assert parts["coldstore-warming"]["event"] == "w1"
    assert parts["coldstore-warming"]["alert"] is not None
    assert parts["coldstore-warming"]["curve"] == {
        "sensor": "coldstore-temp",
        "metric": "temperature",
        "start": minutes(clock, 24).isoformat(),
        "end": minutes(clock, 34).isoformat(),
    }
    # Its own record and clue, by the normal routing (food production goes to the bureau).
    with db.transaction() as conn:
        record = conn.execute(
            "SELECT item_code, result, inspected_at FROM supervision_actions WHERE alert_id = %s", (alert.id,)
        ).fetchone()
        (clue,) = clues.clues_of_alert(conn, alert.id)
    assert record == ("51011700200002", "problem_found", minutes(clock, 34))
    assert (clue.department, clue.risk_class, clue.route_id) == (
        "market-bureau",
        2,
        "food-production-to-bureau",
    )
    assert clue.title == alert.title and clue.evidence == [SNAPSHOT]
    # Repeated part events change nothing: still one alert, one record, one clue.
    feed(db, plant, event("w2", minutes(clock, 36), WARMING), event("d2", minutes(clock, 37), DOOR))
    assert [a.id for a in fused(db, COLDSTORE)] == [alert.id]
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM risk_clues WHERE rule = %s", (COLDSTORE,)).fetchone() == (
            1,
        )
    # A clip cut after the door's event reaches the fusion's alert, record and clue as well.
    with db.transaction() as conn:
        assert plant.attach(conn, "d1", [CLIP], "vision")
        assert get_alert(conn, alert.id).evidence == [SNAPSHOT, CLIP]
        assert clues.get_clue(conn, clue.id).evidence == [SNAPSHOT, CLIP]


def test_parts_arriving_in_reverse_order_fire_at_the_later_event_time(
    db: Database, food_plant: Deployment, clock: Clock
) -> None:
    """The warming comes first, from one hub process; the door seen four minutes before it comes
    later, to another (a restart between): the fusion fires as of the warming."""
    feed(db, Pipeline(food_plant, "0" * 64, clock=clock), event("w1", minutes(clock, 34), WARMING))
    assert fused(db, COLDSTORE) == []
    feed(db, Pipeline(food_plant, "0" * 64, clock=clock), event("d1", minutes(clock, 30), DOOR))
    (alert,) = fused(db, COLDSTORE)
    assert (alert.first_seen, alert.status) == (minutes(clock, 34), "open")


def test_the_window_joins_parts_that_follow_each_other_and_no_further(
    db: Database, plant: Pipeline, clock: Clock
) -> None:
    # The door shut after a minute; the store warms 5 minutes after it opened: within 10 minutes.
    feed(db, plant, event("d1", minutes(clock, 0), DOOR), event("d1x", minutes(clock, 1), DOOR, cleared=True))
    feed(
        db,
        plant,
        event("w1", minutes(clock, 5), WARMING),
        event("w1x", minutes(clock, 6), WARMING, cleared=True),
    )
    (alert,) = fused(db, COLDSTORE)
    assert (alert.first_seen, alert.status) == (minutes(clock, 5), "open")
    # No event says when the door's opening stops counting: the upkeep ends the finding then.
    with db.transaction() as conn:
        assert plant.close_stale(conn) == [alert.id]
    (alert,) = fused(db, COLDSTORE)
    assert (alert.status, alert.ended_at) == ("closed", minutes(clock, 10))
    # The same 11 minutes apart is two unrelated things.
    feed(
        db, plant, event("d2", minutes(clock, 30), DOOR), event("d2x", minutes(clock, 31), DOOR, cleared=True)
    )
    feed(db, plant, event("w2", minutes(clock, 41), WARMING))
    assert len(fused(db, COLDSTORE)) == 1
    with db.transaction() as conn:
        assert plant.close_stale(conn) == []


def test_the_finding_ends_when_a_part_does(db: Database, plant: Pipeline, clock: Clock) -> None:
    feed(db, plant, event("d1", minutes(clock, 0), DOOR), event("w1", minutes(clock, 2), WARMING))
    (alert,) = fused(db, COLDSTORE)
    # The door shuts 12 minutes after it was seen open, beyond the window: the finding ends.
    feed(db, plant, event("d1x", minutes(clock, 12), DOOR, cleared=True))
    (alert,) = fused(db, COLDSTORE)
    assert (alert.status, alert.ended_at) == ("closed", minutes(clock, 12))
    assert [(t, cleared) for t, cleared, _ in fusion_events(db, COLDSTORE)] == [
        (minutes(clock, 2), False),
        (minutes(clock, 12), True),
    ]
    assert fusion_events(db, COLDSTORE)[1][2]["missing"] == ["coldstore-door-open"]


def test_gas_high_with_nobody_in_the_kitchen_and_not_with_staff_there(
    db: Database, plant: Pipeline, clock: Clock
) -> None:
    # Staff present: the gas alarm is its own alert, no fusion.
    feed(db, plant, event("p1", minutes(clock, 0), STAFF), event("g1", minutes(clock, 1), GAS))
    assert fused(db, KITCHEN) == []
    assert len(fused(db, "kitchen-gas-high")) == 1
    # The staff leave while the gas is still high: unattended from that moment.
    feed(db, plant, event("p1x", minutes(clock, 3), STAFF, cleared=True))
    (alert,) = fused(db, KITCHEN)
    assert (alert.first_seen, alert.severity) == (minutes(clock, 3), "critical")
    assert alert.title == "后厨燃气浓度超标且无人在场：后厨可燃气体浓度超过20%LEL，且无后厨有人员在岗"
    # Someone comes back: the finding ends; its clue went to the canteen's station as class 1.
    feed(db, plant, event("p2", minutes(clock, 4), STAFF))
    (alert,) = fused(db, KITCHEN)
    assert (alert.status, alert.ended_at) == ("closed", minutes(clock, 4))
    with db.transaction() as conn:
        (clue,) = clues.clues_of_alert(conn, alert.id)
    assert (clue.department, clue.risk_class) == ("xipu-station", 1)


def test_gas_high_arriving_after_the_staff_left_fires_once(
    db: Database, plant: Pipeline, clock: Clock
) -> None:
    feed(
        db, plant, event("p1", minutes(clock, 0), STAFF), event("p1x", minutes(clock, 2), STAFF, cleared=True)
    )
    feed(db, plant, event("g1", minutes(clock, 5), GAS), event("g2", minutes(clock, 5.5), GAS))
    assert [a.first_seen for a in fused(db, KITCHEN)] == [minutes(clock, 5)]


def test_parts_taken_at_once_by_two_writers_still_meet(db: Database, plant: Pipeline, clock: Clock) -> None:
    """The staff leave while, in another transaction, the gas alarm comes back (both within their
    rules' cooldowns, so neither opens an alert and waits on the audit trail): the gas's writer
    waits for the fusion's lock and, once the staff's leaving is committed, sees it."""
    feed(
        db, plant, event("p0", minutes(clock, 0), STAFF), event("p0x", minutes(clock, 1), STAFF, cleared=True)
    )
    feed(db, plant, event("p1", minutes(clock, 2), STAFF))  # back within the cooldown: no alert
    feed(db, plant, event("g0", minutes(clock, 3), GAS), event("g0x", minutes(clock, 4), GAS, cleared=True))
    done: list[Outcome] = []

    def gas_again() -> None:
        done.append(take(db, plant, event("g1", minutes(clock, 6.5), GAS)).outcome)

    with db.transaction() as conn:
        assert (
            plant.take(conn, event("p1x", minutes(clock, 6), STAFF, cleared=True)).outcome is Outcome.NO_ALERT
        )
        other = threading.Thread(target=gas_again)
        other.start()
        wait_for(lambda: _waiting_for_a_lock(db), timeout=30, failure="the gas's writer never waited")
    other.join(timeout=30)
    assert done == [Outcome.SUPPRESSED]
    assert [a.first_seen for a in fused(db, KITCHEN)] == [minutes(clock, 6.5)]


def _waiting_for_a_lock(db: Database) -> bool:
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    return row is not None and int(row[0]) > 0


def test_nobody_sends_a_fusions_events(food_plant: Deployment, clock: Clock) -> None:
    """The hub raises them from the parts; one sent would be a finding nobody observed."""
    forged = event(
        "f1",
        minutes(clock, 0),
        {"source": f"rule:{COLDSTORE}", "site": "shuweiyuan-plant", "rule": COLDSTORE},
    )
    with pytest.raises(EventRejected, match="is a fusion") as refused:
        Pipeline(food_plant, "0" * 64, clock=clock).check(forged, clock.now)
    assert refused.value.field == "rule"


CANTEEN_GAS_TOPIC = "sites/wangcong-canteen/sensors/kitchen-gas/telemetry"


def test_gas_from_the_real_sensor_ingest_joins_the_staff_seen_leaving(
    db: Database, food_plant: Deployment
) -> None:
    """The gas part comes as a detector's MQTT messages through Mosquitto and the ingest's rules;
    the staff's presence as the kitchen camera's analysis delivers it."""
    pipeline = Pipeline(food_plant, "0" * 64)  # the ingest stamps with the real time
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    feed(db, pipeline, event("p1", t0, STAFF))
    broker = start_broker()
    ingest = SensorIngest(food_plant, db, BrokerAddress(port=broker.port), client_id="fusion",
                          sink=InProcessSink(db, pipeline, None, "iot"))  # fmt: skip
    try:
        ingest.start()
        device = Publisher(broker)
        for s in range(10, 20):  # 30 %LEL for 9 s: the rule's 5 s are up at t0 + 15 s
            device.send(CANTEEN_GAS_TOPIC, {"lel": 30.0, "ts": (t0 + timedelta(seconds=s)).isoformat()})
        wait_for(lambda: fused(db, "kitchen-gas-high"), timeout=30, failure="the gas alarm never came")
        assert fused(db, KITCHEN) == []  # staff present
        feed(db, pipeline, event("p1x", t0 + timedelta(seconds=30), STAFF, cleared=True))
        (alert,) = fused(db, KITCHEN)
        assert (alert.first_seen, alert.status) == (t0 + timedelta(seconds=30), "open")
        for s in range(100, 103):  # back to 5 %LEL, long after the alarm began: the finding ends
            device.send(CANTEEN_GAS_TOPIC, {"lel": 5.0, "ts": (t0 + timedelta(seconds=s)).isoformat()})
        device.finish()
        wait_for(
            lambda: fused(db, KITCHEN)[0].status == "closed", timeout=30, failure="the finding never ended"
        )
        (gas,) = fused(db, "kitchen-gas-high")
        assert fused(db, KITCHEN)[0].ended_at == gas.ended_at == t0 + timedelta(seconds=100)
    finally:
        ingest.stop()
        broker.remove()


def test_a_fusion_may_join_another_fusion(db: Database, clock: Clock) -> None:
    """The door open while the store warms, and the store then too warm: a fusion of a fusion."""
    data = yaml.safe_load((REPO / "configs" / "food_plant.yaml").read_text(encoding="utf-8"))
    lost = {"id": "coldstore-lost", "type": "fusion", "name": "冷冻库失温", "site": "shuweiyuan-plant"}
    data["rules"].append({**lost, "all_of": [COLDSTORE, "coldstore-too-warm"], "window": "30m"})
    pipeline = Pipeline(parse_config(yaml.safe_dump(data, allow_unicode=True)), "0" * 64, clock=clock)
    too_warm = {**WARMING, "rule": "coldstore-too-warm"}
    feed(db, pipeline, event("d1", minutes(clock, 0), DOOR), event("w1", minutes(clock, 2), WARMING))
    assert fused(db, "coldstore-lost") == []
    feed(db, pipeline, event("t1", minutes(clock, 15), too_warm))
    (alert,) = fused(db, "coldstore-lost")
    assert alert.first_seen == minutes(clock, 15)
    # The inner fusion ends when the door shuts; the outer one goes on while it fired within 30 min.
    feed(db, pipeline, event("d1x", minutes(clock, 20), DOOR, cleared=True))
    assert [a.status for a in fused(db, COLDSTORE)] == ["closed"]
    assert [a.status for a in fused(db, "coldstore-lost")] == ["open"]


def test_a_fusion_ends_when_its_schedule_closes(db: Database, clock: Clock) -> None:
    data = yaml.safe_load((REPO / "configs" / "food_plant.yaml").read_text(encoding="utf-8"))
    (rule,) = [r for r in data["rules"] if r["id"] == COLDSTORE]
    rule["schedule"] = {"hours": ["09:00-10:30"]}  # local time; the test starts at 09:00
    pipeline = Pipeline(parse_config(yaml.safe_dump(data, allow_unicode=True)), "0" * 64, clock=clock)
    feed(db, pipeline, event("d1", minutes(clock, 0), DOOR), event("w1", minutes(clock, 2), WARMING))
    with db.transaction() as conn:
        assert pipeline.close_stale(conn) == []  # 10:00: both parts still active, inside the hours
    (alert,) = fused(db, COLDSTORE)
    closing = minutes(clock, 90)  # 10:30
    clock.advance(minutes=40)
    with db.transaction() as conn:
        assert pipeline.close_stale(conn) == [alert.id]
    assert fused(db, COLDSTORE)[0].ended_at == closing
    assert fusion_events(db, COLDSTORE)[-1][2]["reason"] == "schedule_ended"
