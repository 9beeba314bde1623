"""What the hub finds wrong with a box from its heartbeats and their absence: `clock skew` for a
box whose clock is off, `edge offline` for one that went silent (the hub's upkeep on an injected
clock), each cleared when the cause is gone; and the box's machine as it reports it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.box import FileConfig, HeartbeatSender
from tests.api.conftest import Api
from tests.edge.conftest import BEAT, box


def the_box(hub: Api, name: str = "box-hall") -> dict[str, Any]:
    answer = hub.call("operator", "GET", "/edge/boxes", params={"site": "lintong-hall"})
    assert answer.status_code == 200, answer.text
    (found,) = [b for b in answer.json() if b["box"] == name]
    return dict(found)


def edge_history(hub: Api) -> list[tuple[str, str]]:
    with hub.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT device, status FROM device_health WHERE kind = 'edge' ORDER BY time"
        ).fetchall()
    return [(str(d), str(s)) for d, s in rows]


def test_a_box_clock_ten_minutes_off_is_a_clock_skew_finding_until_it_is_set_right(
    hub: Api, tmp_path: Path
) -> None:
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"])
    off = [timedelta(minutes=-10)]
    sender = HeartbeatSender(
        uplink, "lintong-hall", FileConfig("c0ffee"), outbox, dict, every=30,
        clock=lambda: datetime.now(UTC) + off[0],
    )  # fmt: skip
    try:
        assert hub.call("operator", "GET", "/edge/boxes").json() == []
        assert sender.send()
        assert hub.call("box-hall", "GET", "/edge/boxes").status_code == 403  # for the hub's staff
        found = the_box(hub)
        assert [(f["kind"], f["title"]) for f in found["findings"]] == [("clock_skew", "边缘盒时钟偏差")]
        assert "behind the hub's" in found["findings"][0]["detail"]
        assert -605 < found["clock_skew_s"] < -595
        assert found["load_1m"] >= 0 and found["memory_free_bytes"] > 0 and found["disk_free_bytes"] > 0
        assert sender.send()  # still off: the same finding, not a second one
        with hub.hub.db.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM edge_findings").fetchone() == (1,)
        off[0] = timedelta(0)
        assert sender.send()
        assert the_box(hub)["findings"] == []
        with hub.hub.db.transaction() as conn:
            assert conn.execute("SELECT kind FROM edge_findings WHERE cleared_at IS NOT NULL").fetchall() == [
                ("clock_skew",)
            ]
    finally:
        outbox.close()
        uplink.close()


def test_a_silent_box_is_offline_after_the_configured_time_and_back_with_its_next_heartbeat(
    hub: Api, tmp_path: Path
) -> None:
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"])
    sender = HeartbeatSender(uplink, "lintong-hall", FileConfig("c0ffee"), outbox, dict, every=30)
    try:
        assert sender.send()
        seen = datetime.fromisoformat(the_box(hub)["seen_at"])
        silence = timedelta(seconds=hub.hub.config.deployment.edge.offline_after)
        hub.hub.upkeep(seen + silence - timedelta(seconds=1))  # the hub's clock, moved on
        assert the_box(hub)["findings"] == []
        hub.hub.upkeep(seen + silence + timedelta(seconds=1))
        (finding,) = the_box(hub)["findings"]
        assert (finding["kind"], finding["title"]) == ("edge_offline", "边缘盒离线")
        assert "no heartbeat since" in finding["detail"]
        hub.hub.upkeep(seen + 3 * silence)  # still silent: still the one finding
        assert len(the_box(hub)["findings"]) == 1
        assert edge_history(hub) == [("box-hall", "offline")]
        assert sender.send()
        assert the_box(hub)["findings"] == []
        # Written at the hub's clock: the injected one ran ahead of the one the heartbeat came at.
        assert sorted(edge_history(hub)) == [("box-hall", "offline"), ("box-hall", "online")]
    finally:
        outbox.close()
        uplink.close()


def test_an_outbox_nearly_full_is_a_finding_before_anything_is_evicted(hub: Api) -> None:
    beat = {**BEAT, "time": datetime.now(UTC).isoformat(), "outbox_limit_bytes": 100 * 2**20}
    for used, kinds in [(95, ["outbox_evicting"]), (91, ["outbox_evicting"]), (50, [])]:
        answer = hub.call("box-hall", "POST", "/edge/heartbeat", json={**beat, "outbox_bytes": used * 2**20})
        assert answer.status_code == 200, answer.text
        found = the_box(hub)["findings"]
        assert [f["kind"] for f in found] == kinds, used
        assert all(f"{used}.0 of 100.0 MB used" == f["detail"] for f in found)
