"""Heartbeats: stored as the box's last word, its cameras' changes in device_health, and bound to
the edge token's site."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.box import FileConfig, HeartbeatSender
from harness.tcpproxy import TcpProxy
from tests.api.conftest import Api
from tests.edge.conftest import BEAT, box, hall_scenario


def last_heartbeat(hub: Api, name: str) -> dict[str, Any] | None:
    with hub.hub.db.transaction() as conn:
        row = conn.execute(
            "SELECT site, seen_at - box_time, config_version, outbox_depth, outbox_age_s, cameras"
            " FROM edge_boxes WHERE box = %s",
            (name,),
        ).fetchone()
    if row is None:
        return None
    keys = ("site", "skew", "config_version", "outbox_depth", "outbox_age_s", "cameras")
    return dict(zip(keys, row, strict=True))


def camera_history(hub: Api) -> list[tuple[str, str]]:
    with hub.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT device, status FROM device_health WHERE kind = 'camera' ORDER BY time, device"
        ).fetchall()
    return [(str(d), str(s)) for d, s in rows]


def test_heartbeats_are_stored_with_the_outbox_and_camera_changes(
    hub: Api, proxy: TcpProxy, tmp_path: Path
) -> None:
    outbox, uplink = box(tmp_path / "outbox.sqlite", proxy.url, hub.tokens["box-hall"])
    cameras = {"hall-window-1": "online", "hall-waiting": "connecting"}
    sender = HeartbeatSender(uplink, "lintong-hall", FileConfig("c0ffee"), outbox, lambda: cameras, every=30)
    try:
        with proxy.outage("reset"):
            outbox.take(hall_scenario()[:3])
            assert not sender.send()  # the link is down: logged, counted, not repeated
        assert sender.send()
        beat = last_heartbeat(hub, "box-hall")
        assert beat is not None
        assert beat["site"] == "lintong-hall" and beat["config_version"] == "c0ffee"
        assert beat["outbox_depth"] == 3 and beat["outbox_age_s"] >= 0
        assert abs(beat["skew"].total_seconds()) < 5
        assert beat["cameras"] == cameras
        assert camera_history(hub) == [("hall-waiting", "connecting"), ("hall-window-1", "online")]
        assert outbox.drain(30)
        cameras["hall-waiting"] = "offline"
        assert sender.send()
        assert sender.send()  # nothing changed: no new history
        assert camera_history(hub)[2:] == [("hall-waiting", "offline")]
        latest = last_heartbeat(hub, "box-hall")
        assert latest is not None
        assert (latest["outbox_depth"], latest["outbox_age_s"], latest["cameras"]) == (0, 0.0, cameras)
        assert (sender.sent, sender.failed) == (3, 1)
    finally:
        outbox.close()
        uplink.close()


@pytest.mark.parametrize(
    ("who", "beat", "status"),
    [
        ("box-hall", BEAT, 200),
        ("box-cold", BEAT, 403),  # another site's box speaking for the hall
        ("box-cold", {**BEAT, "site": "lintong-coldstore"}, 403),  # ... or for the hall's camera
        ("box-cold", {**BEAT, "site": "lintong-coldstore", "cameras": {}}, 200),
        ("operator", BEAT, 403),  # heartbeats come from edge boxes only
        ("admin", BEAT, 403),
        ("box-hall", {**BEAT, "time": "2026-01-01T00:00:00"}, 422),  # a clock without its zone
        ("box-hall", {**BEAT, "outbox_depth": -1}, 422),
        ("box-hall", {k: v for k, v in BEAT.items() if k != "disk_free_bytes"}, 422),
    ],
)
def test_a_heartbeat_is_bound_to_the_token_site(
    hub: Api, who: str, beat: dict[str, Any], status: int
) -> None:
    answer = hub.call(who, "POST", "/edge/heartbeat", json=beat)
    assert answer.status_code == status, answer.text
    stored = last_heartbeat(hub, who)
    if status == 200:
        assert stored is not None and stored["site"] == beat["site"]
    else:
        assert stored is None
