"""The live stream: alerts raised through intake reach subscribers within a second, by role, without gaps."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL


@dataclass(frozen=True)
class Frame:
    id: int
    alert: dict[str, Any]
    op: str


class Subscription:
    """A client reading the stream on a thread; frames arrive in `frames`."""

    def __init__(self) -> None:
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.ready = threading.Event()

    def next(self, timeout: float = 3.0) -> Frame:
        return self.frames.get(timeout=timeout)

    def until(self, alert_id: int, timeout: float = 3.0) -> Frame:
        """The first frame about `alert_id`, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next(max(0.01, deadline - time.monotonic()))
            if frame.alert["id"] == alert_id:
                return frame

    def drain(self, wait: float) -> list[Frame]:
        time.sleep(wait)
        out = []
        while not self.frames.empty():
            out.append(self.frames.get_nowait())
        return out


@contextmanager
def subscribe(api: Api, who: str, last_event_id: int | None = None) -> Iterator[Subscription]:
    sub = Subscription()
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    client = api.client(who)
    stop = threading.Event()

    def read() -> None:
        frame: dict[str, str] = {}
        try:
            with client.stream(
                "GET", "/stream/alerts", headers=headers, timeout=httpx.Timeout(10, read=None)
            ) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith(":"):
                        sub.ready.set()
                    elif line == "" and "data" in frame:
                        data = json.loads(frame["data"])
                        sub.frames.put(Frame(int(frame["id"]), data["alert"], data["op"]))
                        frame = {}
                    elif ":" in line:
                        key, _, value = line.partition(":")
                        frame[key] = value.lstrip()
        except (httpx.HTTPError, RuntimeError):
            if not stop.is_set():
                raise

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert sub.ready.wait(5), "the stream did not open"
    try:
        yield sub
    finally:
        stop.set()
        client.close()
        thread.join(timeout=5)


def test_an_alert_reaches_a_subscriber_within_a_second(api: Api) -> None:
    with subscribe(api, "operator") as sub:
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
    with subscribe(api, "operator") as sub:
        first = api.raise_finding(GAS)["alert_id"]
        last = sub.until(first).id
    missed = [api.raise_finding(GAS)["alert_id"] for _ in range(3)]
    assert api.call("operator", "POST", f"/alerts/{missed[0]}/acknowledge").status_code == 200
    with api.hub.db.transaction() as conn:
        expected = [
            int(r[0]) for r in conn.execute("SELECT id FROM alert_changes WHERE id > %s ORDER BY id", (last,))
        ]
    with subscribe(api, "operator", last_event_id=last) as sub:
        got = [sub.next() for _ in expected]
        assert sub.drain(0.3) == []
    assert [f.id for f in got] == expected
    assert [(f.alert["id"], f.alert["status"]) for f in got if f.alert["id"] in missed] == [
        *((a, "open") for a in missed),
        (missed[0], "acknowledged"),
    ]


def test_a_department_streams_only_its_own_alerts(api: Api) -> None:
    with subscribe(api, "hall") as hall, subscribe(api, "market") as market:
        gas = api.raise_finding(GAS)["alert_id"]
        absent = api.raise_finding(HALL)["alert_id"]
        assert market.until(gas).alert["rule"] == GAS["rule"]
        assert hall.until(absent).alert["rule"] == HALL["rule"]
        seen_by_hall = {f.alert["id"] for f in hall.drain(0.5)} | {absent}
        seen_by_market = {f.alert["id"] for f in market.drain(0.0)} | {gas}
    assert gas not in seen_by_hall
    assert absent not in seen_by_market
    # resuming from the very start shows a department nothing of the other's either
    with subscribe(api, "hall", last_event_id=0) as replay:
        replayed = {f.alert["id"] for f in replay.drain(0.5)}
    assert absent in replayed and gas not in replayed
