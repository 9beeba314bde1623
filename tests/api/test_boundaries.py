"""Boundaries of the event intake, on the food plant deployment (a plant and a school canteen, each
with its own edge box): a box acts for its own site only, whatever its events name, and no time
can break the store or a page."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.auth import Role
from tests.api.conftest import Api, serve
from tests.conftest import Server

PLANT_SITE, CANTEEN_SITE = "shuweiyuan-plant", "wangcong-canteen"
PLANT_OBJECT = "91510117MA6CJ2T45B"
SMOKING_AT_PLANT = {"site": PLANT_SITE, "source": "camera:plant-workshop", "rule": "workshop-smoking"}
SMOKING_AT_CANTEEN = {"site": CANTEEN_SITE, "source": "camera:canteen-kitchen", "rule": "kitchen-smoking"}
CALLERS: dict[str, tuple[Role, str | None, str | None]] = {
    "admin": ("admin", None, None),
    "operator": ("operator", None, None),
    "plant-box": ("edge", None, PLANT_SITE),
    "canteen-box": ("edge", None, CANTEEN_SITE),
}


@pytest.fixture(scope="module")
def api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve(server, tmp_path_factory.mktemp("api"), "food_plant.yaml", CALLERS) as running:
        yield running


def _event(base: dict[str, str], **extra: Any) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(seconds=1)
    return {**base, "id": f"b-{uuid.uuid4().hex}", "time": at.isoformat(), **extra}


def _send(api: Api, who: str, *events: dict[str, Any]) -> Any:
    return api.call(who, "POST", "/events", json={"events": list(events)})


def _state(api: Api) -> dict[str, int]:
    """Row counts of every table an event can change."""
    tables = ("events", "alerts", "alert_transitions", "supervision_actions", "risk_clues")
    with api.hub.db.transaction() as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]


def _refusals(api: Api, who: str) -> int:
    with api.hub.db.transaction() as conn:
        row = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'events.refused' AND actor = %s", (f"edge:{who}",)
        ).fetchone()
    assert row is not None
    return int(row[0])


def _upload(api: Api, who: str, body: bytes) -> str:
    digest = hashlib.sha256(body).hexdigest()
    assert api.call(who, "PUT", f"/evidence/{digest}", content=body).status_code == 200
    return digest


def _plant_alert(api: Api) -> dict[str, Any]:
    opened = api.raise_finding(SMOKING_AT_PLANT)
    assert opened["outcome"] == "opened", opened
    answer = api.call("admin", "GET", f"/alerts/{opened['alert_id']}")
    assert answer.status_code == 200
    alert: dict[str, Any] = answer.json()
    return alert


# The canteen's box aims at the plant's open smoking alert in every way a field allows.
FOREIGN = {
    "another site's rule and source": ({**SMOKING_AT_PLANT, "site": CANTEEN_SITE}, "rule"),
    "another site's rule": ({**SMOKING_AT_CANTEEN, "rule": "workshop-smoking"}, "rule"),
    "another site's camera": ({**SMOKING_AT_CANTEEN, "source": "camera:plant-workshop"}, "source"),
    "another site's object": ({**SMOKING_AT_CANTEEN, "object": PLANT_OBJECT}, "object"),
    "another site outright": (SMOKING_AT_PLANT, "site"),
}


@pytest.mark.parametrize("case", list(FOREIGN))
@pytest.mark.parametrize("cleared", [False, True])
def test_an_edge_box_cannot_act_for_another_site(api: Api, case: str, cleared: bool) -> None:
    alert = _plant_alert(api)
    before, refused = _state(api), _refusals(api, "canteen-box")
    base, field = FOREIGN[case]
    answer = _send(api, "canteen-box", _event(base, cleared=cleared))
    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"][0]["path"] == f"body.events[0].{field}"
    assert _state(api) == before  # nothing stored, nothing changed
    after = api.call("admin", "GET", f"/alerts/{alert['id']}").json()
    assert (after["status"], after["count"]) == ("open", alert["count"])
    assert _refusals(api, "canteen-box") == refused + 1


def test_a_batch_with_one_foreign_event_is_refused_whole(api: Api) -> None:
    own = _event(SMOKING_AT_CANTEEN, cleared=True)
    foreign = _event({**SMOKING_AT_CANTEEN, "source": "camera:plant-workshop"})
    before = _state(api)
    answer = _send(api, "canteen-box", own, foreign)
    assert answer.status_code == 403
    assert answer.json()["detail"][0]["path"] == "body.events[1].source"
    assert _state(api) == before
    assert _send(api, "canteen-box", own).status_code == 200  # alone it is taken


def test_an_edge_box_cites_only_evidence_it_uploaded(api: Api) -> None:
    theirs = _upload(api, "plant-box", f"plant snapshot {uuid.uuid4()}".encode())
    mine = _upload(api, "canteen-box", f"canteen snapshot {uuid.uuid4()}".encode())
    before = _state(api)
    answer = _send(api, "canteen-box", _event(SMOKING_AT_CANTEEN, evidence=[mine, theirs]))
    assert answer.status_code == 403, answer.text
    assert answer.json()["detail"][0]["path"] == "body.events[0].evidence[1]"
    assert _state(api) == before
    answer = _send(api, "canteen-box", _event(SMOKING_AT_CANTEEN, evidence=[mine]))
    assert answer.status_code == 200, answer.text
    alert = api.call("admin", "GET", f"/alerts/{answer.json()['taken'][0]['alert_id']}").json()
    assert theirs not in alert["evidence"] and mine in alert["evidence"]


def test_an_inconsistent_event_from_the_hub_side_is_unprocessable(api: Api) -> None:
    """An admin has no site, but an event still belongs to one: 422 naming the field."""
    answer = _send(api, "admin", _event({**SMOKING_AT_CANTEEN, "rule": "workshop-smoking"}))
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["path"] == "body.events[0].rule"


@pytest.mark.parametrize(
    "when",
    ["0001-01-01T00:10:00+01:00", "1999-12-31T23:59:59+00:00", "2999-01-01T00:00:00+00:00"],
)
def test_times_out_of_a_sane_window_are_refused(api: Api, when: str) -> None:
    before = _state(api)
    answer = _send(api, "canteen-box", _event(SMOKING_AT_CANTEEN, time=when))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["path"] == "body.events[0].time"
    assert _state(api) == before
    assert api.call("operator", "GET", "/alerts").status_code == 200


@pytest.mark.parametrize(
    "stored", ["0001-01-01 00:10:00+01", "infinity", "-infinity", "20000-01-01 00:00+00"]
)
def test_no_stored_time_breaks_a_page(api: Api, stored: str) -> None:
    """Written straight into the tables, as an older version or a hand could have done."""
    alert = _plant_alert(api)
    with api.hub.db.transaction() as conn:
        conn.execute(
            "UPDATE alerts SET first_seen = %s, last_seen = %s, updated_at = %s WHERE id = %s",
            (stored, stored, stored, alert["id"]),
        )
        conn.execute("UPDATE events SET time = %s WHERE id = %s", (stored, alert["first_event"]))
        conn.execute(
            "UPDATE risk_clues SET claim_deadline = %s, issued_at = %s WHERE alert_id = %s",
            (stored, stored, alert["id"]),
        )
        conn.execute(
            "UPDATE supervision_actions SET inspected_at = %s WHERE alert_id = %s", (stored, alert["id"])
        )
    for who in ("admin", "operator"):
        for path in ("/alerts", "/alerts?status=open", f"/alerts/{alert['id']}", "/clues", "/records",
                     "/records/export"):  # fmt: skip
            answer = api.call(who, "GET", path)
            assert answer.status_code == 200, (who, path, answer.text)
