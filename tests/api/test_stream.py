"""The live stream: alerts raised through intake reach subscribers within a second, by role, without gaps."""

from __future__ import annotations

import time

from tests.api.conftest import Api
from tests.api.sse import subscribe
from tests.hub.feed import GAS, HALL, QUEUE, WARM


def test_an_alert_reaches_a_subscriber_within_a_second(api: Api) -> None:
    with subscribe(api.client("operator")) as sub:
        sent = time.monotonic()
        alert_id = api.raise_finding(GAS, title="gas high in the stream test")["alert_id"]
        frame = sub.until(alert_id, timeout=1.0)
        elapsed = time.monotonic() - sent
    assert elapsed < 1.0
    assert (frame.op, frame.alert["status"], frame.alert["title"]) == (
        "insert",
        "open",
        "gas high in the stream test",
    )


def test_reconnecting_with_the_last_event_id_gets_what_was_missed(api: Api) -> None:
    with subscribe(api.client("operator")) as sub:
        first = api.raise_finding(GAS)["alert_id"]
        last = sub.until(first).id
    missed = [api.raise_finding(base)["alert_id"] for base in (HALL, WARM, QUEUE)]  # three open at once
    assert api.call("operator", "POST", f"/alerts/{missed[0]}/acknowledge").status_code == 200
    with api.hub.db.transaction() as conn:
        expected = [
            int(r[0]) for r in conn.execute("SELECT id FROM alert_changes WHERE id > %s ORDER BY id", (last,))
        ]
    with subscribe(api.client("operator"), last_event_id=last) as sub:
        got = [sub.next() for _ in expected]
        assert sub.drain(0.3) == []
    assert [f.id for f in got] == expected
    assert [(f.alert["id"], f.alert["status"]) for f in got if f.alert["id"] in missed] == [
        *((a, "open") for a in missed),
        (missed[0], "acknowledged"),
    ]


def test_a_department_streams_only_its_own_alerts(api: Api) -> None:
    with subscribe(api.client("hall")) as hall, subscribe(api.client("market")) as market:
        gas = api.raise_finding(GAS)["alert_id"]
        absent = api.raise_finding(HALL)["alert_id"]
        assert market.until(gas).alert["rule"] == GAS["rule"]
        assert hall.until(absent).alert["rule"] == HALL["rule"]
        seen_by_hall = {f.alert["id"] for f in hall.drain(0.5)} | {absent}
        seen_by_market = {f.alert["id"] for f in market.drain(0.0)} | {gas}
    assert gas not in seen_by_hall
    assert absent not in seen_by_market
    # resuming from the very start shows a department nothing of the other's either
    with subscribe(api.client("hall"), last_event_id=0) as replay:
        replayed = {f.alert["id"] for f in replay.drain(0.5)}
    assert absent in replayed and gas not in replayed
