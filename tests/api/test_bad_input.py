"""Bad requests get a 4xx naming the field; stored data survives them; intake is idempotent."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.counters import CounterSink
from tests.api.conftest import LIMITS, Api
from tests.hub.feed import GAS


def _event(**change: Any) -> dict[str, Any]:
    return {**GAS, "id": uuid.uuid4().hex, "time": datetime.now(UTC).isoformat(), **change}


def _count(api: Api, table: str) -> int:
    with api.hub.db.transaction() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_batch_sent_twice_is_taken_once(api: Api) -> None:
    api.retire(GAS)
    batch = {"events": [_event(), _event(cleared=True)]}
    first = api.call("edge", "POST", "/events", json=batch).json()["taken"]
    before = {t: _count(api, t) for t in ("events", "alerts", "risk_clues", "alert_changes")}
    second = api.call("edge", "POST", "/events", json=batch).json()["taken"]
    assert [t["outcome"] for t in first] == ["opened", "closed"]
    assert [t["outcome"] for t in second] == ["duplicate", "duplicate"]
    assert {t: _count(api, t) for t in before} == before


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"events": [_event(colour="red")]}, "body.events[0].colour"),
        ({"events": [_event()], "extra": 1}, "body.extra"),
        ({"events": [_event(time="yesterday")]}, "body.events[0].time"),
        ({"events": [_event(time="2026-11-23T10:00:00")]}, "body.events[0].time"),
        ({"events": [_event(), _event(evidence=["abc"])]}, "body.events[1].evidence[0]"),
        ({"events": []}, "body.events"),
        ({"events": [_event(site="nowhere")]}, "body.events[0].site"),
        ({"events": [_event(rule="no-such-rule")]}, "body.events[0].rule"),
        (
            {"events": [_event(time=(datetime.now(UTC) + timedelta(hours=1)).isoformat())]},
            "body.events[0].time",
        ),
        ({"events": [_event() for _ in range(LIMITS.max_events + 1)]}, "body.events"),
        ({"events": [_event(payload={"note": "a\x00b"})]}, "body"),
        ({"events": [_event(payload={"note": "a\ud800b"})]}, "body"),
        ({"events": [_event(payload={"k\udc00": 1})]}, "body"),
        ({"events": [_event(payload={"level": float("nan")})]}, "body"),
    ],
)
def test_invalid_batches_name_the_field_and_store_nothing(api: Api, body: dict[str, Any], path: str) -> None:
    before = _count(api, "events")
    # Escaped JSON (NaN as JSON's common extension): what a client may send, lone surrogates included.
    content = json.dumps(body)
    answer = api.call(
        "admin", "POST", "/events", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert path in [e["path"] for e in answer.json()["detail"]], answer.json()
    assert _count(api, "events") == before


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", {"content-type": "application/json"}),
        (b"[1, 2]", {"content-type": "application/json"}),
        (b"events=1", {"content-type": "application/x-www-form-urlencoded"}),
        (b"\xff\xfe", {"content-type": "application/json"}),
        (b"\x10,-\x0ew,\xfe", {"content-type": "application/json"}),
    ],
)
def test_malformed_bodies_are_4xx(api: Api, content: bytes, headers: dict[str, str]) -> None:
    assert api.call("admin", "POST", "/events", content=content, headers=headers).status_code in (400, 422)


def test_oversized_bodies_and_uploads_are_413(api: Api) -> None:
    big = {"events": [_event(payload={"blob": "x" * LIMITS.max_body})]}
    assert api.call("admin", "POST", "/events", json=big).status_code == 413
    upload = b"\0" * (LIMITS.max_upload + 1)
    digest = hashlib.sha256(upload).hexdigest()
    assert api.call("edge", "PUT", f"/evidence/{digest}", content=upload).status_code == 413

    def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(LIMITS.max_upload // 4096 + 2):
            yield b"\0" * 4096

    assert api.call("edge", "PUT", f"/evidence/{digest}", content=chunks()).status_code == 413
    assert not api.hub.evidence.exists(digest)


def test_an_upload_must_hash_to_the_claimed_sha256(api: Api) -> None:
    body = b"snapshot"
    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = api.call(
        "edge", "PUT", f"/evidence/{wrong}", content=body, headers={"content-type": "image/jpeg"}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["path"] == "path.sha256"
    assert not api.hub.evidence.exists(wrong)
    right = hashlib.sha256(body).hexdigest()
    stored = api.call(
        "edge", "PUT", f"/evidence/{right}", content=body, headers={"content-type": "image/jpeg"}
    )
    assert stored.json() == {
        "sha256": right,
        "size": 8,
        "media_type": "image/jpeg",
        "link": f"/evidence/{right}",
    }
    assert api.call("operator", "GET", f"/evidence/{right}").content == body


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/alerts/99999999999999999999", {}),
        ("GET", "/alerts/0", {}),
        ("GET", "/alerts", {"params": {"severity": "loud"}}),
        ("GET", "/alerts", {"params": {"limit": 100000}}),
        ("GET", "/alerts", {"params": {"since": "2026-11-23T10:00:00"}}),
        ("POST", "/alerts/1/acknowledge", {"json": {"note": "x", "by": "me"}}),
        ("GET", "/clues", {"params": {"status": "lost"}}),
        ("GET", "/evidence/NOTAHASH", {}),
        ("GET", "/records", {"params": {"item_code": "123"}}),
        ("GET", "/stream/alerts", {"headers": {"Last-Event-ID": "abc"}}),
        ("GET", "/alerts", {"params": {"site": "a\x00"}}),
    ],
)
def test_bad_parameters_are_422(api: Api, method: str, path: str, kwargs: dict[str, Any]) -> None:
    answer = api.call("admin", method, path, **kwargs)
    assert answer.status_code == 422, answer.text
    assert all(e["path"] for e in answer.json()["detail"])


def test_health_and_metrics(api: Api) -> None:
    health = api.call("anonymous", "GET", "/healthz")
    assert health.status_code == 200
    assert health.json()["database"] == "ok" and health.json()["stream"] == "ok"
    api.raise_finding(GAS)
    text = api.call("operator", "GET", "/metrics").text
    assert 'offsite_alerts{status="open"}' in text
    assert 'offsite_api_events_total{outcome="opened"}' in text
    assert 'offsite_http_requests_total{method="POST",route="/events",status="200"}' in text
    assert "offsite_clues_overdue" in text
    # What the ingest processes reported (here as `offsite iot run` would) shows with their labels.
    reported = {("iot-1", "readings"): 1200, ("iot-1", "refused"): 3, ("iot-1", "spool_depth"): 7}
    CounterSink("sensors").report(api.hub.db, reported)
    text = api.call("operator", "GET", "/metrics").text
    assert 'offsite_ingest_total{counter="readings",kind="sensors",source="iot-1"} 1200.0' in text
    assert 'offsite_ingest_total{counter="refused",kind="sensors",source="iot-1"} 3.0' in text
    assert 'offsite_ingest_state{counter="spool_depth",kind="sensors",source="iot-1"} 7.0' in text


def test_docs_page_needs_no_cdn(api: Api) -> None:
    page = api.call("anonymous", "GET", "/docs").text
    assert "/openapi.json" in page and "http" not in page.replace("http-equiv", "")
    schema = api.call("anonymous", "GET", "/openapi.json").json()
    assert schema["paths"]["/alerts"]["get"]["description"].startswith("Alerts by first seen")
