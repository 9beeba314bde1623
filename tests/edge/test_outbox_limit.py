"""The outbox's disk bound during a long outage: clips are evicted first, then the oldest
snapshots, never an event; the box reports it and the hub raises `outbox_evicting`, cleared once
the outbox drained. Every event reaches the hub in order, without the evidence it lost."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from edge.box import FileConfig, HeartbeatSender
from harness.tcpproxy import TcpProxy
from hub.events import Event
from hub.spool import DurableSink
from tests.api.conftest import Api
from tests.edge.conftest import box, by_source, hall_scenario
from tests.hub.test_spool import arrival_order

SNAPSHOT, CLIP = 5_000, 20_000  # bytes: a clip outweighs a snapshot, as on a real box


def picture(event: Event) -> bytes:
    return f"picture of {event.id}".encode().ljust(SNAPSHOT, b".")


def deliver(outbox: DurableSink, events: list[Event]) -> None:
    """As the camera analysis does: a snapshot before its event, a clip attached after it."""
    for e in events:
        if not e.cleared:
            e = e.model_copy(update={"evidence": [outbox.keep(picture(e), "image/jpeg")]})
        outbox.take([e])
        if not e.cleared:
            outbox.attach(e.id, [outbox.keep(f"clip of {e.id}".encode().ljust(CLIP, b"."), "video/mp4")])


def evidence_kinds(outbox: DurableSink) -> list[str]:
    with closing(sqlite3.connect(f"file:{outbox.path}?mode=ro", uri=True)) as db:
        return [str(m) for (m,) in db.execute("SELECT media_type FROM spool WHERE kind = 'evidence'")]


def test_a_full_outbox_evicts_clips_then_snapshots_never_events_and_the_hub_hears_of_it(
    hub: Api, proxy: TcpProxy, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = hall_scenario()
    pictured = [e for e in events if not e.cleared]
    limit = 3 * SNAPSHOT + len(events) * 1_000  # the events and about three snapshots
    outbox, uplink = box(tmp_path / "outbox.sqlite", proxy.url, hub.tokens["box-hall"])
    outbox.limit_bytes = limit
    sender = HeartbeatSender(uplink, "lintong-hall", FileConfig("c0ffee"), outbox, dict, every=30)
    try:
        with proxy.outage("reset"), caplog.at_level(logging.WARNING, logger="hub.spool"):
            deliver(outbox, events)
            assert outbox.depth() == len(events)  # every event kept
            assert outbox.size() <= limit
            assert outbox.stats.evicted_clips == len(pictured)  # every clip went before any snapshot
            assert 0 < outbox.stats.evicted_snapshots < len(pictured)
            assert set(evidence_kinds(outbox)) == {"image/jpeg"}  # the newest snapshots stay
            assert "no event was dropped" in caplog.text
        assert sender.send()
        found = hub.call("operator", "GET", "/edge/boxes").json()
        (finding,) = found[0]["findings"]
        assert finding["kind"] == "outbox_evicting" and "evicted" in finding["detail"]
        assert found[0]["outbox_evicted"] == outbox.stats.evicted
        assert outbox.drain(30), f"{outbox.depth()} events still in the outbox"
        assert outbox.refusals() == []
        assert sender.send()
        assert hub.call("operator", "GET", "/edge/boxes").json()[0]["findings"] == []
    finally:
        outbox.close()
        uplink.close()
    assert arrival_order(hub.hub.db) == by_source(events)
    with hub.hub.db.transaction() as conn:
        rows = conn.execute("SELECT id, evidence, payload FROM events").fetchall()
    kept = {str(i): (list(ev), p.get("evicted_evidence", [])) for i, ev, p in rows}
    for e in pictured:
        sha = hashlib.sha256(picture(e)).hexdigest()
        assert kept[e.id] in (([sha], []), ([], [sha]))  # its snapshot, or a note that it was evicted
    lost = [e.id for e in pictured if not kept[e.id][0]]
    assert lost == [e.id for e in pictured[: len(lost)]]  # the oldest snapshots went
    assert len(lost) == outbox.stats.evicted_snapshots
