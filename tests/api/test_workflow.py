"""Alerts and clues through the API: filters, pages, transitions, 409s, feedback with evidence, audit."""

from __future__ import annotations

import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx

from api.auth import create_user
from tests.api.conftest import Api
from tests.hub.feed import GAS, HALL, WARM


def test_alert_filters_and_cursor_pages(api: Api) -> None:
    site = "lintong-coldstore"
    ids = [api.raise_finding(WARM, severity="minor")["alert_id"] for _ in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"site": site, "severity": "minor", "rule": WARM["rule"], "limit": 2}
        page = api.call(
            "operator", "GET", "/alerts", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [a["id"] for a in body["items"]]
        assert all(a["site"] == site and a["severity"] == "minor" for a in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen[:5] == sorted(ids, reverse=True)  # newest first; the same ids across pages
    assert len(seen) == len(set(seen))
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.call("operator", "GET", "/alerts", params={"since": later}).json()["items"] == []
    bad = api.call("operator", "GET", "/alerts", params={"cursor": "not-a-cursor"})
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["query", "cursor"])


def test_alert_detail_and_illegal_transition(api: Api) -> None:
    digest = hashlib.sha256(b"frame").hexdigest()
    alert = api.raise_finding(GAS, evidence=[digest])["alert_id"]
    detail = api.call("operator", "GET", f"/alerts/{alert}").json()
    assert detail["evidence_links"] == [f"/evidence/{digest}"]
    assert [t["action"] for t in detail["trail"]] == ["open"]
    assert api.call("operator", "POST", f"/alerts/{alert}/dismiss", json={"note": "cat"}).status_code == 200
    again = api.call("operator", "POST", f"/alerts/{alert}/acknowledge")
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"cannot acknowledge alert {alert}: it is dismissed; allowed now: nothing (final state)",
        "status": "dismissed",
        "allowed": [],
    }
    with api.hub.db.transaction() as conn:
        row = conn.execute(
            "SELECT actor, detail->>'note' FROM audit_log WHERE action = 'alert.dismiss' AND subject = %s",
            (f"alert:{alert}",),
        ).fetchone()
    assert row == ("operator:operator", "cat")


def test_a_department_works_its_clue_to_the_end(api: Api) -> None:
    alert = api.raise_finding(GAS)["alert_id"]
    clue = api.clue_of(alert)
    market = api.client("market")
    detail = market.get(f"/clues/{clue}").json()
    assert (detail["status"], detail["allowed"], detail["overdue"]) == ("issued", ["claim"], None)
    early = market.post(f"/clues/{clue}/handle")
    assert early.status_code == 409 and early.json()["allowed"] == ["claim"]
    assert market.post(f"/clues/{clue}/claim").status_code == 200
    assert market.post(f"/clues/{clue}/handle", json={"note": "vented on site"}).status_code == 200
    photo = b"\xff\xd8\xff\xe0 photo of the vent"  # a JPEG signature: served as what it is
    fed = market.post(
        f"/clues/{clue}/feedback",
        data={"verdict": "confirmed", "text": "valve replaced"},
        files=[("files", ("vent.jpg", photo, "image/jpeg"))],
    )
    assert fed.status_code == 200, fed.text
    digest = hashlib.sha256(photo).hexdigest()
    assert fed.json()["feedback_evidence"] == [digest]
    download = market.get(f"/evidence/{digest}")
    assert (download.content, download.headers["content-type"]) == (photo, "image/jpeg")
    assert api.call("hall", "GET", f"/evidence/{digest}").status_code == 404
    reopened = api.call("admin", "POST", f"/clues/{clue}/reopen", json={"note": "photo is blurred"})
    assert reopened.json()["status"] == "claimed"
    trail = [(t["action"], t["actor"]) for t in reopened.json()["trail"]]
    assert trail == [
        ("issue", f"rule:{GAS['rule']}"),
        ("claim", "department:market"),
        ("handle", "department:market"),
        ("feed_back", "department:market"),
        ("reopen", "admin:admin"),
    ]
    market.close()


def test_feedback_needs_a_known_verdict_and_text(api: Api) -> None:
    clue = api.clue_of(api.raise_finding(GAS)["alert_id"])
    bad = api.call("market", "POST", f"/clues/{clue}/feedback", data={"verdict": "maybe", "text": ""})
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["detail"]} == {"body.verdict", "body.text"}


def test_overdue_clues_are_flagged(api: Api) -> None:
    clue = api.clue_of(api.raise_finding(HALL)["alert_id"])
    with api.hub.db.transaction() as conn:
        conn.execute(
            "UPDATE risk_clues SET claim_deadline = now() - interval '1 minute' WHERE id = %s", (clue,)
        )
    listed = api.call("hall", "GET", "/clues", params={"overdue": "true", "limit": 200}).json()["items"]
    assert {c["id"]: c["overdue"] for c in listed}.get(clue) == "claim"
    assert all(c["overdue"] for c in listed)


def test_records_list_and_export(api: Api) -> None:
    start = datetime.now(UTC) - timedelta(seconds=5)
    alert = api.raise_finding(WARM)["alert_id"]
    records = api.call("operator", "GET", "/records", params={"since": start.isoformat()}).json()["items"]
    mine = [r for r in records if r["alert_id"] == alert]
    assert len(mine) == 1 and mine[0]["result"] == "problem_found"
    export = api.call("operator", "GET", "/records/export", params={"since": start.isoformat()})
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    line = next(x for x in lines if x["alert_id"] == alert)
    assert list(line)[:4] == ["batch_id", "operation", "source", "time"]
    assert (line["operation"], line["source"], line["item_code"]) == ("I", "offsite", "61011500200003")
    assert line["record_id"] == mine[0]["record_id"]


def test_a_dashboard_login_issues_a_session_token(api: Api) -> None:
    name = f"duty{uuid.uuid4().hex[:8]}"
    with api.hub.db.transaction() as conn:
        create_user(conn, name, "correct horse battery", "department", datetime.now(UTC), "market")
        stored = conn.execute("SELECT password_hash FROM api_users WHERE username = %s", (name,)).fetchone()
    assert stored is not None and str(stored[0]).startswith("$argon2id$")
    wrong = api.call("anonymous", "POST", "/auth/login", json={"username": name, "password": "guess"})
    assert wrong.status_code == 401
    session = api.call(
        "anonymous", "POST", "/auth/login", json={"username": name, "password": "correct horse battery"}
    )
    assert session.status_code == 200
    headers = {"Authorization": f"Bearer {session.json()['token']}"}
    hall_clue = api.clue_of(api.raise_finding(HALL)["alert_id"])
    with httpx.Client(base_url=api.url, headers=headers) as client:
        assert client.get("/clues").status_code == 200
        assert client.get(f"/clues/{hall_clue}").status_code == 404  # a market login, like a market token


def test_more_callers_than_pool_connections_all_get_answers(api: Api) -> None:
    clue = api.clue_of(api.raise_finding(GAS)["alert_id"])

    def read(n: int) -> int:
        who, path = ("market", f"/clues/{clue}") if n % 2 else ("operator", "/alerts")
        return api.call(who, "GET", path).status_code

    with ThreadPoolExecutor(40) as pool:  # the hub's pool holds 8 connections
        assert set(pool.map(read, range(120))) == {200}
