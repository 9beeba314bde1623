"""After an outage: the box catches up at its pace, oldest first, events before the clips, and
the hub records how late each event came. And the degraded link of the issue: slow and lossy,
then cut, then back, while the box raises and clears alerts.

The outages last seconds rather than minutes: what is checked does not depend on their length.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx

from harness.tcpproxy import TcpProxy
from hub.events import Event
from hub.store.db import Database
from tests.api.conftest import Api
from tests.edge.conftest import BLACKHOLE_TIMEOUT, box, by_source, hall_scenario
from tests.hub.feed import HALL, event
from tests.hub.test_spool import arrival_order, deliver

PACE = 15.0  # entries a second


def spooled(path: Path) -> int:
    """Entries (events, evidence, attachments) waiting in the outbox at `path`."""
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])


def arrivals(db: Database) -> tuple[list[datetime], list[datetime], list[datetime]]:
    """When the hub received each event, stored each snapshot, stored each clip."""
    with db.transaction() as conn:
        events = [r[0] for r in conn.execute("SELECT received_at FROM events")]
        pictures = [
            r[0] for r in conn.execute("SELECT stored_at FROM evidence WHERE media_type LIKE 'image/%'")
        ]
        clips = [r[0] for r in conn.execute("SELECT stored_at FROM evidence WHERE media_type LIKE 'video/%'")]
    return events, pictures, clips


def test_after_an_outage_the_box_catches_up_at_its_pace_oldest_first_events_before_clips(
    hub: Api, proxy: TcpProxy, tmp_path: Path
) -> None:
    events = hall_scenario()
    path = tmp_path / "outbox.sqlite"
    outbox, uplink = box(path, proxy.url, hub.tokens["box-hall"], BLACKHOLE_TIMEOUT)
    outbox.catch_up_per_s = PACE
    try:
        with proxy.outage("reset"):
            deliver(outbox, events)
            assert outbox.depth() == len(events)
        backlog = spooled(path)
        assert outbox.drain(60), f"{outbox.depth()} events still in the outbox"
        assert outbox.refusals() == []
    finally:
        outbox.close()
        uplink.close()
    assert arrival_order(hub.hub.db) == by_source(events)
    received, pictures, clips = arrivals(hub.hub.db)
    assert len(received) == len(events) and clips
    assert max(received) <= min(clips)  # the hub knew what happened before the heavy evidence came
    # A second's worth at once, then the pace: no faster, however fast the hub answers.
    span = (max(received + pictures + clips) - min(received + pictures + clips)).total_seconds()
    assert span >= (backlog - PACE) / PACE - 0.5, f"{backlog} entries in {span:.2f} s"


def test_the_hub_records_how_late_each_event_came(hub: Api, tmp_path: Path) -> None:
    events = hall_scenario()  # made two hours ago, sent now
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"])
    try:
        deliver(outbox, events)
    finally:
        outbox.close()
        uplink.close()
    live = event("hall-live", datetime.now(UTC), HALL)  # and one as it happens
    with hub.hub.db.transaction() as conn:
        hub.hub.pipeline.take(conn, live)
    answer = hub.call("admin", "GET", "/edge/lag", params={"site": "lintong-hall"})
    assert answer.status_code == 200, answer.text
    (lag,) = answer.json()
    assert lag["site"] == "lintong-hall" and lag["events"] == len(events) + 1
    assert lag["late"] == len(events)  # the live one is on time
    newest = max(e.time for e in events)
    assert lag["p95_s"] >= (datetime.now(UTC) - newest).total_seconds() - 600
    assert lag["max_s"] >= lag["p95_s"] >= lag["p50_s"]
    assert hub.call("operator", "GET", "/edge/lag").status_code == 200
    metrics = hub.call("operator", "GET", "/metrics").text
    # The scenario's events came 40 minutes to 2 hours late, the live one within 5 s.
    histogram = 'offsite_edge_delivery_lag_seconds_bucket{le="%s",site="lintong-hall"} %s'
    assert histogram % ("5", "1.0") in metrics
    assert histogram % ("1800", "1.0") in metrics
    assert histogram % ("21600", f"{len(events) + 1}.0") in metrics
    assert f'offsite_edge_delivery_lag_seconds_gcount{{site="lintong-hall"}} {len(events) + 1}.0' in metrics
    assert hub.call("box-hall", "GET", "/edge/lag").status_code == 403  # for the hub's staff


def alert_spans(events: list[Event]) -> list[tuple[str, datetime, datetime, datetime | None]]:
    """The alerts a hub raises from `events`: (source, first seen, last seen, ended), by first seen."""
    spans: list[tuple[str, datetime, datetime, datetime | None]] = []
    open_at: dict[str, int] = {}
    for e in events:
        at = open_at.get(e.source)
        if e.cleared:
            if at is not None:
                spans[at] = (*spans[at][:3], e.time)
                del open_at[e.source]
        elif at is None:
            open_at[e.source] = len(spans)
            spans.append((e.source, e.time, e.time, None))
        else:
            spans[at] = (e.source, spans[at][1], e.time, None)
    return sorted(spans, key=lambda s: (s[1], s[0]))


def test_a_slow_lossy_link_then_a_cut_then_recovery_loses_and_doubles_nothing(
    hub: Api, proxy: TcpProxy, tmp_path: Path
) -> None:
    events = hall_scenario()
    sixth = len(events) // 6  # two events on the lossy link, two thirds cut off, the rest after
    outbox, uplink = box(tmp_path / "outbox.sqlite", proxy.url, hub.tokens["box-hall"])
    try:
        with proxy.degraded(latency=0.3, drop=0.15):
            deliver(outbox, events[:2])
            assert outbox.drain(60), f"{outbox.depth()} events still in the outbox"
        uplink.client.timeout = httpx.Timeout(BLACKHOLE_TIMEOUT)  # the cut fails fast
        with proxy.outage("blackhole"):  # the alerts raised before are cleared and raised again
            deliver(outbox, events[2 : 5 * sixth])
        deliver(outbox, events[5 * sixth :])
        assert outbox.drain(60), f"{outbox.depth()} events still in the outbox"
        assert outbox.refusals() == []
    finally:
        outbox.close()
        uplink.close()
    assert proxy.dropped, "the lossy link dropped nothing: the test did not test it"
    assert arrival_order(hub.hub.db) == by_source(events)  # each once, in order per source
    with hub.hub.db.transaction() as conn:
        alerts = conn.execute(
            "SELECT source, first_seen, last_seen, ended_at, status FROM alerts ORDER BY first_seen, source"
        ).fetchall()
        taken = conn.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
    assert taken == (len(events), len(events))
    assert [tuple(a[:4]) for a in alerts] == alert_spans(events)
    assert [a[4] for a in alerts] == ["open" if a[3] is None else "closed" for a in alerts]
