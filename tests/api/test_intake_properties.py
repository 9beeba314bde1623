"""The event intake driven with generated events from both edge boxes of the food plant deployment:
whatever they name (sites, sources, rules, objects, times, texts), no answer is a 5xx and nothing
stored ever belongs to another site than the box that sent it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config import Deployment
from tests.api.conftest import Api, serve
from tests.api.test_boundaries import CALLERS, CANTEEN_SITE, PLANT_SITE
from tests.conftest import Server

BOXES = {"plant-box": PLANT_SITE, "canteen-box": CANTEEN_SITE}


@pytest.fixture(scope="module")
def api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve(server, tmp_path_factory.mktemp("api"), "food_plant.yaml", CALLERS) as running:
        yield running


def _names(d: Deployment) -> dict[str, list[str]]:
    return {
        "site": [*d.site_by_id, "nowhere"],
        "source": [*d.source_site, "camera:unknown", "edge:box-1", "system:x", "gateway:nothing"],
        "rule": [*d.rule_by_id, "no-such-rule"],
        "object": [*d.object_by_code, "91510117MA6CJ2T45B", "91350100M000100Y43"],
    }


def _times() -> st.SearchStrategy[str]:
    now = datetime.now(UTC)
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    anywhere = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)
    recent = st.integers(-7 * 86400, 600).map(lambda s: now + timedelta(seconds=s))
    return st.one_of(anywhere, recent).map(lambda t: t.isoformat())


# Any Unicode a JSON body can carry, lone surrogates and NUL included.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def _event(draw: st.DrawFn, d: Deployment, site: str) -> dict[str, Any]:
    """An event of `site` as its box would send it, with any of its fields maybe replaced by
    another site's or by a name of nowhere."""
    names = _names(d)
    rule = draw(st.sampled_from(sorted(r for r, s in d.rule_site.items() if s == site)))
    objects = sorted(d.site_objects[site])
    event: dict[str, Any] = {
        "id": f"p-{uuid.uuid4().hex}",
        "site": site,
        "source": d.rule_source[rule],
        "rule": rule,
        "time": draw(_times()),
        "cleared": draw(st.booleans()),
    }
    if objects and draw(st.booleans()):
        event["object"] = draw(st.sampled_from(objects))
    for field in draw(st.sets(st.sampled_from(sorted(names)), max_size=2)):
        event[field] = draw(st.sampled_from(names[field]))
    if draw(st.booleans()):
        event["title"] = draw(TEXT)
    if draw(st.booleans()):
        event["payload"] = draw(st.dictionaries(TEXT, JSON, max_size=3))
    return event


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_events_never_fail_the_hub_nor_cross_sites(api: Api, data: st.DataObject) -> None:
    d = api.hub.config.deployment
    box = data.draw(st.sampled_from(sorted(BOXES)))
    events = data.draw(st.lists(_event(d, BOXES[box]), min_size=1, max_size=3))
    body = json.dumps({"events": events})  # escaped: lone surrogates travel as JSON allows them
    answer = api.call(box, "POST", "/events", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code < 500, answer.text
    stored = _stored_sites(api, [e["id"] for e in events])
    if answer.status_code == 200:
        assert stored == {e["id"]: BOXES[box] for e in events}
    else:
        assert stored == {}, answer.text  # a refused batch stores nothing
    _assert_everything_bound(api)


def _stored_sites(api: Api, ids: list[str]) -> dict[str, str]:
    with api.hub.db.transaction() as conn:
        rows = conn.execute("SELECT id, site FROM events WHERE id = ANY(%s)", (ids,)).fetchall()
    return {str(i): str(site) for i, site in rows}


def _assert_everything_bound(api: Api) -> None:
    """Every stored event, alert and clue is of the site its rule and source stand in."""
    d = api.hub.config.deployment
    with api.hub.db.transaction() as conn:
        for table in ("events", "alerts", "risk_clues"):
            source = "NULL" if table == "risk_clues" else "source"
            for site, rule, src in conn.execute(f"SELECT site, rule, {source} FROM {table}").fetchall():
                assert d.rule_site[rule] == site, (table, site, rule)
                assert src is None or d.source_site.get(src, site) == site, (table, site, src)
        rows = conn.execute("SELECT e.site, e.object_code FROM events e WHERE object_code IS NOT NULL")
        for site, code in rows.fetchall():
            assert code in d.site_objects[site], (site, code)
