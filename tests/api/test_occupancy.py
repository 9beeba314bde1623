"""A camera's occupancy over time: distinct tracks per minute and label, each track's dwell, read
from the sampled `detections` rows, with the role rules of the sensors (a department sees the
cameras of the sites its clues come from)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.routers import occupancy as occupancy_router
from hub.store.detections import DetectionRow, write_detections
from tests.api.conftest import Api

T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # a past morning: no other test's rows there
CAMERA = "hall-window-1"  # in lintong-hall, whose clues go to the hall office
BOX = (100.0, 200.0, 180.0, 460.0)


def _row(seconds: float, track: int, label: str = "person", camera: str = CAMERA) -> DetectionRow:
    return DetectionRow(T0 + timedelta(seconds=seconds), camera, label, 0.8, BOX, track)


@pytest.fixture(scope="module")
def stored(api: Api) -> None:
    rows = [_row(s, 1) for s in range(0, 75, 5)]  # 10:00:00 to 10:01:10, every 5 s
    rows += [_row(30, 2), _row(35, 2), _row(60, 3, "car")]
    rows += [_row(10, 1, camera="hall-waiting"), _row(120, 4), _row(-1, 5)]  # another camera; outside
    rows += [_row(3 * 3600, 1), _row(3 * 3600 + 5, 1)]  # the analysis restarted: track 1 is someone else
    with api.hub.db.transaction() as conn:
        assert write_detections(conn, rows) == len(rows)


def _occupancy(api: Api, who: str, **params: str) -> dict[str, Any]:
    query = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=2)).isoformat(), **params}
    answer = api.call(who, "GET", f"/cameras/{CAMERA}/occupancy", params=query)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.usefixtures("stored")
def test_occupancy_counts_distinct_tracks_per_minute_and_the_dwell_of_each(api: Api) -> None:
    body = _occupancy(api, "operator")
    tz = ZoneInfo("Asia/Shanghai")
    minute = T0.astimezone(tz).isoformat()
    next_minute = (T0 + timedelta(minutes=1)).astimezone(tz).isoformat()
    assert body["minutes"] == [
        {"minute": minute, "label": "person", "tracks": 2},
        {"minute": next_minute, "label": "car", "tracks": 1},
        {"minute": next_minute, "label": "person", "tracks": 1},
    ]
    assert [(t["track"], t["label"], t["dwell_s"], t["samples"]) for t in body["tracks"]] == [
        (1, "person", 70.0, 15),
        (2, "person", 5.0, 2),
        (3, "car", 0.0, 1),
    ]
    first = body["tracks"][0]
    assert (
        first["first"] == minute and first["last"] == (T0 + timedelta(seconds=70)).astimezone(tz).isoformat()
    )
    assert body["sample_every"] == 5.0 and body["camera_name"] == "1号窗口"


@pytest.mark.usefixtures("stored")
def test_a_range_inside_a_stay_sees_only_its_part(api: Api) -> None:
    body = _occupancy(api, "admin", start=(T0 + timedelta(seconds=30)).isoformat())
    stays = {t["track"]: (t["dwell_s"], t["samples"]) for t in body["tracks"]}
    assert stays == {1: (40.0, 9), 2: (5.0, 2), 3: (0.0, 1)}


@pytest.mark.usefixtures("stored")
def test_a_track_id_seen_again_hours_later_is_another_stay(api: Api) -> None:
    body = _occupancy(api, "operator", end=(T0 + timedelta(hours=4)).isoformat())
    assert [(t["track"], t["dwell_s"], t["samples"]) for t in body["tracks"]] == [
        (1, 70.0, 15),
        (2, 5.0, 2),
        (3, 0.0, 1),
        (4, 0.0, 1),
        (1, 5.0, 2),
    ]
    assert body["minutes"][-1]["tracks"] == 1


@pytest.mark.usefixtures("stored")
def test_more_stays_than_one_answer_carries_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(occupancy_router, "MOST_TRACKS", 2)
    query = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=2)).isoformat()}
    answer = api.call("operator", "GET", f"/cameras/{CAMERA}/occupancy", params=query)
    assert answer.status_code == 422 and "more than 2 stays" in answer.text, answer.text


@pytest.mark.usefixtures("stored")
def test_the_hall_office_sees_its_sites_camera_and_others_do_not(api: Api, hall_alert: int) -> None:
    assert len(_occupancy(api, "hall")["tracks"]) == 3
    answer = api.call("market", "GET", f"/cameras/{CAMERA}/occupancy")
    assert answer.status_code == 404, answer.text
    assert api.call("edge", "GET", f"/cameras/{CAMERA}/occupancy").status_code == 403
    assert api.call("anonymous", "GET", f"/cameras/{CAMERA}/occupancy").status_code == 401


@pytest.mark.parametrize(
    ("path", "params", "status", "names"),
    [
        ("/cameras/nowhere/occupancy", {}, 404, "nowhere"),
        (f"/cameras/{CAMERA}/occupancy", {"start": T0.isoformat(), "end": T0.isoformat()}, 422, "start"),
        (
            f"/cameras/{CAMERA}/occupancy",
            {"start": T0.isoformat(), "end": "2026-12-29T02:00:00Z"},
            422,
            "7 days",
        ),
        (f"/cameras/{CAMERA}/occupancy", {"start": "2026-11-29T02:00:00"}, 422, "start"),  # no zone
    ],
)
def test_a_bad_camera_or_range_is_refused_naming_it(
    api: Api, path: str, params: dict[str, str], status: int, names: str
) -> None:
    answer = api.call("operator", "GET", path, params=params)
    assert answer.status_code == status and names in answer.text, answer.text
