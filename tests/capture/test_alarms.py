"""A camera `offline` rule raises its event once the problem has lasted the rule's `after`,
counted from when the camera last worked, and clears only what it raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from capture.alarms import OfflineAlarms
from capture.health import CameraStatus, StatusChange
from hub.config import Deployment

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
ONLINE, RECONNECTING, OFFLINE, FROZEN = (
    CameraStatus.ONLINE,
    CameraStatus.RECONNECTING,
    CameraStatus.OFFLINE,
    CameraStatus.FROZEN,
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def alarms(*afters: float) -> OfflineAlarms:
    """One camera with an `offline` rule for each of `afters` (seconds), named after it."""
    rules = [
        {"id": f"after-{a:g}", "name": "摄像头离线", "type": "offline", "camera": "cam", "after": a}
        for a in afters
    ]
    return OfflineAlarms(
        Deployment.model_validate(
            {
                "name": "hall",
                "sites": [{"id": "hall", "name": "大厅", "area_code": "610115"}],
                "cameras": [{"id": "cam", "name": "窗口", "site": "hall", "url": "rtsp://127.0.0.1/cam"}],
                "rules": rules,
            }
        )
    )


def change(
    status: CameraStatus, previous: CameraStatus, seconds: float, since: float | None = None
) -> StatusChange:
    return StatusChange("cam", status, previous, at(seconds), "", None if since is None else at(since))


def test_an_offline_camera_raises_each_rule_when_its_after_has_run_out() -> None:
    watch = alarms(30, 120)
    # The last frame came at 0; the worker reports the camera offline 60 s later: the 30 s rule
    # is overdue and raised at once, the 120 s one waits.
    down = watch.change(change(OFFLINE, RECONNECTING, 60, since=0))
    assert [(e.rule, e.time, e.cleared) for e in down] == [("after-30", at(60), False)]
    assert watch.due(at(119)) == []
    assert [(e.rule, e.time, e.cleared) for e in watch.due(at(120.2))] == [("after-120", at(120), False)]
    assert watch.due(at(600)) == []  # once each
    back = watch.change(change(ONLINE, OFFLINE, 700))
    assert sorted((e.rule, e.time, e.cleared) for e in back) == [
        ("after-120", at(700), True),
        ("after-30", at(700), True),
    ]


def test_a_camera_back_before_after_raises_and_clears_nothing() -> None:
    watch = alarms(120)
    assert watch.change(change(FROZEN, ONLINE, 30, since=0)) == []
    assert watch.change(change(ONLINE, FROZEN, 90)) == []
    assert watch.due(at(1000)) == []


def test_a_frozen_camera_that_goes_offline_counts_from_its_last_picture_change() -> None:
    watch = alarms(120)
    assert watch.change(change(FROZEN, ONLINE, 30, since=0)) == []
    assert watch.change(change(RECONNECTING, FROZEN, 50)) == []
    assert watch.change(change(OFFLINE, RECONNECTING, 110, since=50)) == []
    assert [e.time for e in watch.due(at(120))] == [at(120)]  # 120 s after the picture last changed
    # Back online from reconnecting, not from a problem status: still the clear of what was raised.
    assert watch.change(change(RECONNECTING, OFFLINE, 130)) == []
    assert [e.cleared for e in watch.change(change(ONLINE, RECONNECTING, 140))] == [True]
