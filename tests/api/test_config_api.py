"""The deployment edited through the API: entries of its sections, imports, whole-deployment checks,
versions, the audit trail and `offsite config export`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.config_store import active_config
from hub import audit
from tests.api.conftest import Api
from tests.conftest import REPO

WHO = ("admin", "operator", "market", "hall", "edge", "anonymous")
DEMO = (REPO / "configs" / "demo.yaml").read_text(encoding="utf-8")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _zone(zone_id: str, width: int = 400) -> dict[str, Any]:
    return {"id": zone_id, "camera": "hall-waiting", "polygon": [[0, 0], [width, 0], [width, 300], [0, 300]]}


def _rule(rule_id: str, zone_id: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "type": "presence",
        "name": "等候区有人滞留",
        "camera": "hall-waiting",
        "zone": zone_id,
        "min_duration": "10s",
        "severity": "minor",
    }


def _state(api: Api) -> tuple[str, str | None, int, int]:
    """The ETag, the YAML in force, and how many config versions and audit entries there are."""
    etag = api.call("admin", "GET", "/config").headers["etag"]
    with api.hub.db.transaction() as conn:
        text = active_config(conn)
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM config_versions), (SELECT count(*) FROM audit_log)"
        ).fetchone()
    assert counts is not None
    return etag, text, int(counts[0]), int(counts[1])


def _count(api: Api, section: str) -> int:
    return len(api.call("admin", "GET", f"/config/{section}").json())


def test_a_zone_and_a_rule_through_their_lifecycle(api: Api) -> None:
    zone_id, rule_id = _name("zone"), _name("rule")
    created = api.call("admin", "POST", "/config/zones", json=_zone(zone_id))
    assert created.status_code == 201, created.text
    change = created.json()
    assert (change["operation"], change["section"], change["id"]) == ("create", "zones", zone_id)
    assert created.headers["etag"] == f'"{change["sha256"]}"'
    assert created.headers["location"] == f"/config/zones/{zone_id}"
    assert change["running_sha256"] == api.hub.config.sha256 and change["restart_needed"]
    assert "until it is restarted" in change["note"]
    assert api.call("operator", "GET", f"/config/zones/{zone_id}").json() == _zone(zone_id)
    assert zone_id in {z["id"] for z in api.call("operator", "GET", "/config/zones").json()}

    made = api.call("admin", "POST", "/config/rules", json=_rule(rule_id, zone_id))
    assert made.status_code == 201, made.text
    assert api.call("admin", "GET", f"/config/rules/{rule_id}").json() == _rule(rule_id, zone_id)

    wider = {k: v for k, v in _zone(zone_id, width=500).items() if k != "id"}  # the key comes from the path
    replaced = api.call("admin", "PUT", f"/config/zones/{zone_id}", json=wider)
    assert replaced.status_code == 200, replaced.text
    assert api.call("admin", "GET", f"/config/zones/{zone_id}").json() == _zone(zone_id, width=500)

    # The zone is in use: deleting it is refused, naming the rule, and nothing changes.
    before = _state(api)
    refused = api.call("admin", "DELETE", f"/config/zones/{zone_id}")
    assert refused.status_code == 422, refused.text
    index = [r["id"] for r in api.call("admin", "GET", "/config/rules").json()].index(rule_id)
    problem = next(p for p in refused.json()["detail"] if p["path"] == f"rules[{index}].zone")
    assert problem["msg"].startswith(f"unknown zone {zone_id!r}")
    assert problem["entry"] == f"/config/rules/{rule_id}"
    assert problem["loc"] == ["rules", index, "zone"]
    assert _state(api) == before

    gone = api.call("admin", "DELETE", f"/config/rules/{rule_id}")
    assert (gone.status_code, gone.json()["entry"]) == (200, _rule(rule_id, zone_id))
    assert api.call("admin", "DELETE", f"/config/zones/{zone_id}").status_code == 200
    assert api.call("admin", "GET", f"/config/zones/{zone_id}").status_code == 404
    assert api.call("admin", "GET", f"/config/rules/{rule_id}").status_code == 404


def test_a_write_that_breaks_the_deployment_changes_nothing(api: Api) -> None:
    before = _state(api)
    rules, zones = _count(api, "rules"), _count(api, "zones")
    broken = api.call("admin", "POST", "/config/rules", json=_rule(_name("rule"), "nowhere"))
    assert broken.status_code == 422, broken.text
    [problem] = broken.json()["detail"]
    assert problem["path"] == f"rules[{rules}].zone"
    assert problem["msg"].startswith("unknown zone 'nowhere'; known: ")
    # Every problem at once, each with its path.
    shapeless = {"id": _name("zone"), "camera": "hall-waiting", "colour": "red"}
    answer = api.call("admin", "POST", "/config/zones", json=shapeless)
    assert answer.status_code == 422, answer.text
    paths = {p["path"]: p["msg"] for p in answer.json()["detail"]}
    assert paths == {
        f"zones[{zones}].polygon": "required field is missing",
        f"zones[{zones}].colour": "unknown field (check the spelling; see the example configs)",
    }
    nul = api.call("admin", "POST", "/config/zones", json={**_zone(_name("zone")), "camera": "a\x00b"})
    assert nul.status_code == 422
    assert nul.json()["detail"][0]["path"] == f"zones[{zones}].camera"
    assert _state(api) == before


def test_missing_existing_and_stale(api: Api) -> None:
    unknown = api.call("admin", "GET", "/config/antennas")
    assert unknown.status_code == 404 and "known: sites, departments" in unknown.json()["detail"]
    assert api.call("admin", "POST", "/config/antennas", json={"id": "a"}).status_code == 404
    for method in ("GET", "PUT", "DELETE"):
        missing = api.call("admin", method, "/config/zones/no-such-zone", json=_zone("no-such-zone"))
        assert missing.status_code == 404, (method, missing.text)
        assert missing.json()["detail"] == "no zones entry with id 'no-such-zone'"
    taken = api.call("admin", "POST", "/config/zones", json=_zone("waiting-area"))
    assert (taken.status_code, taken.json()["detail"]) == (
        409,
        "zones already has an entry with id 'waiting-area'",
    )
    renamed = api.call("admin", "PUT", "/config/zones/waiting-area", json=_zone("elsewhere"))
    assert renamed.status_code == 422 and renamed.json()["detail"][0]["path"] == "body.id"
    keyless = api.call("admin", "POST", "/config/objects", json={"name": "x"})
    assert keyless.status_code == 422 and keyless.json()["detail"][0]["path"] == "body.credit_code"

    etag = api.call("admin", "GET", "/config").headers["etag"]
    zone_id = _name("zone")
    first = api.call("admin", "POST", "/config/zones", json=_zone(zone_id), headers={"If-Match": etag})
    assert first.status_code == 201, first.text
    # A second editor still holding the old version is told so, with the version in force.
    stale = api.call(
        "admin", "PUT", f"/config/zones/{zone_id}", json=_zone(zone_id, 9), headers={"If-Match": etag}
    )
    assert stale.status_code == 412, stale.text
    assert stale.headers["etag"] == first.headers["etag"]
    assert api.call("admin", "GET", f"/config/zones/{zone_id}").json() == _zone(zone_id)
    fresh = api.call(
        "admin", "DELETE", f"/config/zones/{zone_id}", headers={"If-Match": first.headers["etag"]}
    )
    assert fresh.status_code == 200, fresh.text


WRITES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/config/zones", {"json": _zone("by-whom")}),
    ("PUT", "/config/zones/waiting-area", {"json": _zone("waiting-area", 600)}),
    ("DELETE", "/config/rules/hall-queue", {}),
    ("PUT", "/config", {"content": DEMO, "headers": {"Content-Type": "application/yaml"}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_only_admins_write(api: Api, method: str, path: str, kwargs: dict[str, Any]) -> None:
    before = _state(api)
    refused = {who: api.call(who, method, path, **kwargs).status_code for who in WHO[1:]}
    assert refused == {"operator": 403, "market": 403, "hall": 403, "edge": 403, "anonymous": 401}
    assert _state(api) == before
    answer = api.call("admin", method, path, **kwargs)
    assert answer.status_code in (200, 201), answer.text
    assert _state(api) != before


def test_writes_are_audited_with_the_caller(api: Api) -> None:
    previous = api.call("admin", "GET", "/config").headers["etag"].strip('"')
    zone_id = _name("zone")
    sha = api.call("admin", "POST", "/config/zones", json=_zone(zone_id)).json()["sha256"]
    with api.hub.db.transaction() as conn:
        row = conn.execute(
            "SELECT actor, action, detail FROM audit_log WHERE subject = %s ORDER BY seq DESC LIMIT 1",
            (f"config:{sha}",),
        ).fetchone()
        active = conn.execute("SELECT sha256, set_by FROM config_active").fetchone()
        stored = conn.execute("SELECT body FROM config_versions WHERE sha256 = %s", (sha,)).fetchone()
        report = audit.verify(conn)
    assert row == (
        "admin:admin",
        "config.update",
        {"section": "zones", "id": zone_id, "operation": "create", "previous": previous},
    )
    assert active == (sha, "admin:admin")
    assert stored is not None and hashlib.sha256(stored[0].encode()).hexdigest() == sha
    assert report.intact


def test_import_yaml_kept_as_sent_and_json_round_trip(api: Api) -> None:
    text = "# edited by the duty desk\n" + DEMO.replace(
        "name: 西安骊山冷链物流有限公司", "name: 西安骊山冷链有限公司"
    )
    imported = api.call("admin", "PUT", "/config", content=text, headers={"Content-Type": "application/yaml"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    with api.hub.db.transaction() as conn:
        assert active_config(conn) == text  # comments and all
    document = api.call("operator", "GET", "/config").json()
    assert document["objects"][0]["name"] == "西安骊山冷链有限公司"

    document["name"] = "Lintong, edited as JSON"
    again = api.call("admin", "PUT", "/config", json=document)
    assert again.status_code == 200, again.text
    assert api.call("admin", "GET", "/config").json() == document  # risk classes survive JSON's keys

    broken = text.replace("zone: window-1-post", "zone: window-9-post")
    refused = api.call("admin", "PUT", "/config", content=broken, headers={"Content-Type": "text/yaml"})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["detail"]
    assert problem["path"] == "rules[0].zone" and problem["entry"] == "/config/rules/window-absence"
    assert broken.splitlines()[problem["line"] - 1].strip() == "zone: window-9-post"
    assert (
        api.call("admin", "PUT", "/config", content="a,b", headers={"Content-Type": "text/csv"}).status_code
        == 415
    )
    not_json = api.call("admin", "PUT", "/config", content="{", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["detail"]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
    )
    exploded = api.call("admin", "PUT", "/config", content=bomb, headers={"Content-Type": "application/yaml"})
    assert exploded.status_code == 422 and "aliases" in exploded.json()["detail"][0]["msg"]
    assert api.call("admin", "GET", "/config").json() == document


def test_export_writes_the_edited_deployment(api: Api, tmp_path: Path) -> None:
    zone_id = _name("zone")
    assert api.call("admin", "POST", "/config/zones", json=_zone(zone_id)).status_code == 201
    env = {**os.environ, "OFFSITE_DATABASE_URL": api.hub.db.dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
    exported = subprocess.run(
        [sys.executable, "-m", "offsite.cli", "config", "export"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert _zone(zone_id) in document["zones"]
    with api.hub.db.transaction() as conn:
        assert exported.stdout == active_config(conn)
