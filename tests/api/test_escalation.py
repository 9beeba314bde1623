"""Escalation (督办) through the served API, on the food plant deployment (canteen clues go to the
street's station and are escalated to the district bureau 2 h after a missed deadline): the
bureau then lists and reads the station's clue but may not act on it; every other clue stays its
own department's alone; the station's figures count the escalation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.auth import Role
from tests.api.conftest import Api, serve
from tests.conftest import Server

RODENT = {"source": "camera:canteen-storeroom", "site": "wangcong-canteen", "rule": "storeroom-rodent"}
SMOKING = {"source": "camera:plant-workshop", "site": "shuweiyuan-plant", "rule": "workshop-smoking"}
FRIDGE = {
    "source": "sensor:sample-fridge-temp",
    "site": "wangcong-canteen",
    "rule": "sample-fridge-out-of-range",
}
CALLERS: dict[str, tuple[Role, str | None, str | None]] = {
    "admin": ("admin", None, None),
    "bureau": ("department", "market-bureau", None),
    "station": ("department", "xipu-station", None),
}


@pytest.fixture(scope="module")
def plant_api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve(server, tmp_path_factory.mktemp("api"), "food_plant.yaml", CALLERS) as started:
        yield started


def listed(api: Api, who: str) -> set[int]:
    answer = api.call(who, "GET", "/clues")
    assert answer.status_code == 200, answer.text
    return {c["id"] for c in answer.json()["items"]}


def test_the_supervisor_reads_an_escalated_clue_and_only_that(plant_api: Api) -> None:
    api = plant_api
    late = api.clue_of(api.raise_finding(RODENT)["alert_id"])  # class 2: claim within 4 h
    ours = api.clue_of(api.raise_finding(SMOKING)["alert_id"])  # the bureau's own
    with api.hub.db.transaction() as conn:
        row = conn.execute("SELECT issued_at FROM risk_clues WHERE id = %s", (late,)).fetchone()
    assert row is not None
    issued: datetime = row[0]
    api.hub.upkeep(issued + timedelta(hours=3))
    calm = api.clue_of(api.raise_finding(FRIDGE)["alert_id"])  # class 3, a day to claim
    assert api.call("bureau", "POST", f"/clues/{ours}/claim").status_code == 200
    assert listed(api, "bureau") == {ours}
    assert api.call("bureau", "GET", f"/clues/{late}").status_code == 404

    api.hub.upkeep(issued + timedelta(hours=6, minutes=1))  # reminded at 4 h, escalated 2 h later
    assert listed(api, "bureau") == {late, ours}
    seen = api.call("bureau", "GET", f"/clues/{late}")
    assert seen.status_code == 200, seen.text
    detail = seen.json()
    assert (detail["department"], detail["status"], detail["allowed"]) == ("xipu-station", "issued", [])
    assert [t["action"] for t in detail["trail"]][-2:] == ["remind", "escalate"]
    assert "提请成都市郫都区市场监督管理局督办" in detail["trail"][-1]["note"]
    assert api.call("station", "GET", f"/clues/{late}").json()["allowed"] == ["claim"]

    refused = api.call("bureau", "POST", f"/clues/{late}/claim")
    assert refused.status_code == 403, refused.text
    error = refused.json()["detail"][0]
    assert error["loc"] == ["path", "clue_id"] and "supervises it" in error["msg"], error
    assert api.call("bureau", "POST", f"/clues/{late}/handle").status_code == 403
    assert api.call("bureau", "GET", f"/clues/{calm}").status_code == 404  # not escalated: not its own
    assert api.call("station", "GET", f"/clues/{ours}").status_code == 404  # supervision runs one way
    assert listed(api, "station") == {late, calm}
    assert {late, ours, calm} <= listed(api, "admin")
    claimed = api.call("station", "POST", f"/clues/{late}/claim")
    assert claimed.status_code == 200 and claimed.json()["status"] == "claimed"

    day = issued.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    figures = api.call("admin", "GET", "/statistics", params={"from": day, "to": day}).json()
    period = {r["department"]: r for r in figures["clues"] if r["bucket"] is None}
    assert (period["xipu-station"]["escalated"], period["market-bureau"]["escalated"]) == (1, 0)
