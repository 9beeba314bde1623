"""Who may do what: a table of caller x endpoint x status, cross-department attempts included."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from hub import clues
from tests.api.conftest import Api, evidence_file
from tests.hub.feed import GAS

NOW = datetime.now(UTC)
WHO = ("admin", "operator", "market", "hall", "edge", "anonymous")

# The clue's state before the call, so that the owner's call is legal and answers 200.
CLUE_BEFORE = {
    "claim": [],
    "handle": ["claim"],
    "feedback": ["claim", "handle"],
    "close": ["claim", "handle", "feedback"],
    "reopen": ["claim", "handle", "feedback"],
}


# Action -> (state before it, state after it).
STATES = {
    "claim": ("issued", "claimed"),
    "handle": ("claimed", "handled"),
    "feedback": ("handled", "fed_back"),
    "close": ("fed_back", "closed"),
    "reopen": ("fed_back", "claimed"),
}


def _advance(api: Api, clue_id: int, steps: list[str]) -> None:
    with api.hub.db.transaction() as conn:
        for step in steps:
            if step == "claim":
                clues.claim(conn, clue_id, "test", NOW)
            elif step == "handle":
                clues.handle(conn, clue_id, "test", NOW)
            else:
                clues.feed_back(conn, clue_id, "test", NOW, "confirmed", "fixed")


def _clue_request(action: str) -> tuple[str, dict[str, object]]:
    if action == "feedback":
        return "POST", {"data": {"verdict": "confirmed", "text": "door closed, gas vented"}}
    if action == "reopen":
        return "POST", {"json": {"note": "send photos of the vent"}}
    return "POST", {}


# The department itself claims, handles and feeds back; another department gets 404 (its clue
# does not exist for it); closing and reopening belong to the supervising side, so 403 for every
# department alike, which tells nothing about the clue.
CLUE_TABLE = {
    #            admin operator market hall edge anonymous
    "claim": (200, 403, 200, 404, 403, 401),
    "handle": (200, 403, 200, 404, 403, 401),
    "feedback": (200, 403, 200, 404, 403, 401),
    "close": (200, 403, 403, 403, 403, 401),
    "reopen": (200, 403, 403, 403, 403, 401),
}


@pytest.mark.parametrize("action", list(CLUE_TABLE))
@pytest.mark.parametrize("who", ["admin", "operator", "market", "hall", "edge", "anonymous"])
def test_clue_actions(api: Api, market_alert: int, action: str, who: str) -> None:
    clue_id = api.clue_of(market_alert)
    _advance(api, clue_id, CLUE_BEFORE[action])
    method, kwargs = _clue_request(action)
    want = dict(zip(WHO, CLUE_TABLE[action], strict=True))[who]
    answer = api.call(who, method, f"/clues/{clue_id}/{action}", **kwargs)
    assert answer.status_code == want, answer.text
    with api.hub.db.transaction() as conn:
        after = clues.get_clue(conn, clue_id).status
    before, moved = STATES[action]
    assert after == (moved if want == 200 else before)  # a refused call leaves the clue as it was


READS: dict[str, Callable[[Api, int, int, str], str]] = {
    "alert list": lambda api, alert, clue, ev: "/alerts",
    "alert": lambda api, alert, clue, ev: f"/alerts/{alert}",
    "clue list": lambda api, alert, clue, ev: "/clues",
    "clue": lambda api, alert, clue, ev: f"/clues/{clue}",
    "evidence": lambda api, alert, clue, ev: f"/evidence/{ev}",
    "records": lambda api, alert, clue, ev: "/records",
    "export": lambda api, alert, clue, ev: "/records/export",
    "metrics": lambda api, alert, clue, ev: "/metrics",
    "config": lambda api, alert, clue, ev: "/config",
    "config section": lambda api, alert, clue, ev: "/config/zones",
    "config entry": lambda api, alert, clue, ev: "/config/zones/waiting-area",
}
READ_TABLE = {
    #              admin operator market hall edge anonymous
    "alert list": (200, 200, 200, 200, 403, 401),
    "alert": (200, 200, 200, 404, 403, 401),
    "clue list": (200, 200, 200, 200, 403, 401),
    "clue": (200, 200, 200, 404, 403, 401),
    "evidence": (200, 200, 200, 404, 403, 401),
    "records": (200, 200, 403, 403, 403, 401),
    "export": (200, 200, 403, 403, 403, 401),
    "metrics": (200, 200, 403, 403, 403, 401),
    "config": (200, 200, 403, 403, 403, 401),
    "config section": (200, 200, 403, 403, 403, 401),
    "config entry": (200, 200, 403, 403, 403, 401),
}


@pytest.mark.parametrize("endpoint", list(READ_TABLE))
def test_reads(api: Api, endpoint: str) -> None:
    digest = evidence_file(api, b"snapshot " + uuid.uuid4().bytes)
    alert = api.raise_finding(GAS, evidence=[digest])["alert_id"]
    clue = api.clue_of(alert)
    path = READS[endpoint](api, alert, clue, digest)
    got = {who: api.call(who, "GET", path).status_code for who in WHO}
    assert got == dict(zip(WHO, READ_TABLE[endpoint], strict=True))


ALERT_ACTIONS = ("acknowledge", "dismiss", "close")


@pytest.mark.parametrize("action", ALERT_ACTIONS)
def test_alert_actions(api: Api, action: str) -> None:
    want = {"admin": 200, "operator": 200, "market": 403, "hall": 403, "edge": 403, "anonymous": 401}
    got = {}
    for who in WHO:
        alert = api.raise_finding(GAS)["alert_id"]
        got[who] = api.call(who, "POST", f"/alerts/{alert}/{action}", json={"note": who}).status_code
    assert got == want


def test_event_intake(api: Api) -> None:
    def batch(site: str) -> dict[str, object]:
        event = {**GAS, "site": site, "id": uuid.uuid4().hex, "time": NOW.isoformat(), "cleared": True}
        return {"events": [event]}

    own = {who: api.call(who, "POST", "/events", json=batch("lintong-coldstore")).status_code for who in WHO}
    assert own == {"admin": 200, "operator": 403, "market": 403, "hall": 403, "edge": 200, "anonymous": 401}
    other = api.call("edge", "POST", "/events", json=batch("lintong-hall"))
    assert other.status_code == 403
    assert other.json()["detail"][0]["path"] == "body.events[0].site"


def test_evidence_upload(api: Api) -> None:
    got = {}
    for who in WHO:
        body = f"clip from {who} {uuid.uuid4()}".encode()
        digest = hashlib.sha256(body).hexdigest()
        got[who] = api.call(who, "PUT", f"/evidence/{digest}", content=body).status_code
    assert got == {"admin": 200, "operator": 403, "market": 200, "hall": 200, "edge": 200, "anonymous": 401}


def test_stream_roles(api: Api) -> None:
    for who, status in (("edge", 403), ("anonymous", 401)):
        assert api.call(who, "GET", "/stream/alerts").status_code == status


def test_a_department_never_sees_another_departments_clue(
    api: Api, market_alert: int, hall_alert: int
) -> None:
    market_clue, hall_clue = api.clue_of(market_alert), api.clue_of(hall_alert)
    for who, mine, theirs, alert in (("market", market_clue, hall_clue, hall_alert),
                                     ("hall", hall_clue, market_clue, market_alert)):  # fmt: skip
        listed = {c["id"] for c in api.call(who, "GET", "/clues", params={"limit": 200}).json()["items"]}
        assert mine in listed and theirs not in listed
        alerts = {a["id"] for a in api.call(who, "GET", "/alerts", params={"limit": 200}).json()["items"]}
        assert alert not in alerts
        missing = api.call(who, "GET", "/clues/999999999")
        hidden = api.call(who, "GET", f"/clues/{theirs}")
        assert (hidden.status_code, hidden.json()["detail"]) == (404, f"no clue {theirs}")
        assert (missing.status_code, missing.json()["detail"]) == (404, "no clue 999999999")
        # the department filter is the caller's own, whatever it asks for
        other = "hall-office" if who == "market" else "market"
        asked = api.call(who, "GET", "/clues", params={"department": other, "limit": 200}).json()["items"]
        assert theirs not in {c["id"] for c in asked}
