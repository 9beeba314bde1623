"""What an interface learns of the deployment to start from: its language (GET /auth/me) and the
names of its departments (GET /catalogue)."""

from __future__ import annotations

import dataclasses

from tests.api.conftest import Api


def test_me_names_the_deployments_language_for_every_role(api: Api) -> None:
    assert {
        api.call(who, "GET", "/auth/me").json()["language"] for who in ("operator", "market", "edge")
    } == {"zh"}
    loaded = api.hub.config
    english = loaded.deployment.model_copy(update={"language": "en"})
    api.hub.config = dataclasses.replace(loaded, deployment=english)  # the hub reads it per request
    try:
        assert api.call("market", "GET", "/auth/me").json()["language"] == "en"
    finally:
        api.hub.config = loaded


def test_the_catalogue_names_the_departments(api: Api) -> None:
    departments = api.call("operator", "GET", "/catalogue").json()["departments"]
    assert departments == [
        {"id": "hall-office", "name": "临潼区政务服务中心管理办公室", "site": None},
        {"id": "market", "name": "临潼区市场监督管理局", "site": None},
    ]
