"""GET /edge/config: the deployment in force cut to the edge token's site, as YAML a box loads,
with its SHA-256 as ETag and 304 while the box runs it; an edit through the config API changes
the version of the site it touches and no other's."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import parse_config
from tests.api.conftest import Api, serve
from tests.conftest import Server
from tests.edge.conftest import CALLERS


@pytest.fixture(scope="module")
def hub(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve(server, tmp_path_factory.mktemp("hub"), callers=CALLERS) as started:
        yield started


def pull(hub: Api, who: str, etag: str | None = None) -> tuple[int, str, str]:
    headers = {"If-None-Match": etag} if etag else {}
    answer = hub.call(who, "GET", "/edge/config", headers=headers)
    return answer.status_code, answer.headers.get("ETag", ""), answer.text


def test_a_box_reads_its_own_site_only_and_is_answered_304_while_it_runs_it(hub: Api) -> None:
    status, etag, text = pull(hub, "box-hall")
    assert status == 200, text
    assert etag == f'"{hashlib.sha256(text.encode()).hexdigest()}"'
    hall = parse_config(text, "hall")  # loads on its own, as a box loads it
    assert [s.id for s in hall.sites] == ["lintong-hall"]
    assert [c.id for c in hall.cameras] == ["hall-window-1", "hall-waiting"]
    assert {z.camera for z in hall.zones} <= {"hall-window-1", "hall-waiting"} and hall.zones
    assert [r.id for r in hall.rules] == ["window-absence", "hall-queue"]
    assert hall.sensors == [] and hall.routing == [] and hall.outputs == []
    assert pull(hub, "box-hall", etag)[:2] == (304, etag)
    assert pull(hub, "box-hall", f'W/{etag}, "other"')[0] == 304

    status, cold_etag, cold_text = pull(hub, "box-cold")
    cold = parse_config(cold_text, "cold")
    assert status == 200 and cold_etag != etag
    assert [s.id for s in cold.sites] == ["lintong-coldstore"] and cold.cameras == []
    assert {s.site for s in cold.sensors} == {"lintong-coldstore"} and len(cold.sensors) == 3
    assert {r.id for r in cold.rules} == {
        "coldstore-too-warm",
        "coldstore-gas-high",
        "coldstore-temp-offline",
        "dock-humidity-offline",
    }
    assert pull(hub, "box-cold", etag)[0] == 200  # the hall's version is not the cold store's


@pytest.mark.parametrize("who", ["admin", "operator"])
def test_only_edge_boxes_pull_a_site_config(hub: Api, who: str) -> None:
    assert pull(hub, who)[0] == 403


def test_an_edit_through_the_api_changes_the_version_of_its_site_only(hub: Api, tmp_path: Path) -> None:
    _, hall_before, _ = pull(hub, "box-hall")
    _, cold_before, _ = pull(hub, "box-cold")
    zone = hub.call("admin", "GET", "/config/zones/waiting-area").json()
    moved = {**zone, "polygon": [[0, 0], [640, 0], [640, 360], [0, 360]]}
    assert hub.call("admin", "PUT", "/config/zones/waiting-area", json=moved).status_code == 200
    status, hall_after, text = pull(hub, "box-hall", hall_before)
    assert status == 200 and hall_after != hall_before
    assert parse_config(text).zones[1].polygon[1] == (640.0, 0.0)
    assert pull(hub, "box-cold", cold_before)[0] == 304
