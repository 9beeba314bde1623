"""The box's config pulled from a real hub: kept on disk and started from while the hub is away,
an edit through the hub's API reaching the box, a version the box cannot run refused (the last
good one kept, the refusal a finding on the hub) until the hub serves one it can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.box import HeartbeatSender
from edge.config import NoConfig, SiteConfig
from edge.uplink import HubUplink
from tests.api.conftest import Api
from tests.edge.conftest import TIMEOUT, box

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: refused at once


def site_config(url: str, token: str, cache: Path) -> SiteConfig:
    return SiteConfig(HubUplink(url, token, timeout=TIMEOUT), cache)


def findings(hub: Api) -> list[tuple[str, str]]:
    answer = hub.call("operator", "GET", "/edge/boxes")
    assert answer.status_code == 200, answer.text
    return [(f["kind"], f["detail"]) for b in answer.json() for f in b["findings"]]


def edit(hub: Api, section: str, key: str, **changes: Any) -> None:
    entry = hub.call("admin", "GET", f"/config/{section}/{key}").json()
    answer = hub.call("admin", "PUT", f"/config/{section}/{key}", json={**entry, **changes})
    assert answer.status_code == 200, answer.text


def test_a_box_starts_on_the_hub_config_and_on_its_kept_copy_while_the_hub_is_away(
    hub: Api, tmp_path: Path
) -> None:
    cache = tmp_path / "config" / "site.yaml"
    first = site_config(hub.url, hub.tokens["box-hall"], cache)
    loaded = first.boot()
    served = hub.call("box-hall", "GET", "/edge/config")
    assert served.headers["ETag"] == f'"{loaded.sha256}"' == f'"{first.version}"'
    assert cache.read_text(encoding="utf-8") == served.text
    assert first.site == "lintong-hall" and [c.id for c in loaded.deployment.cameras] == [
        "hall-window-1",
        "hall-waiting",
    ]
    requests = first.uplink.requests
    assert first.pull() is None and first.uplink.requests == requests + 1  # answered 304
    first.uplink.close()
    again = site_config(UNREACHABLE, hub.tokens["box-hall"], cache)
    assert again.boot().sha256 == loaded.sha256  # from the disk
    again.uplink.close()
    bare = site_config(UNREACHABLE, hub.tokens["box-hall"], tmp_path / "none" / "site.yaml")
    with pytest.raises(NoConfig, match="no config is kept at"):
        bare.boot()
    bare.uplink.close()


def test_an_edit_reaches_the_box_and_a_config_it_cannot_run_is_refused_until_fixed(
    hub: Api, tmp_path: Path
) -> None:
    config = site_config(hub.url, hub.tokens["box-hall"], tmp_path / "site.yaml")
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"])
    sender = HeartbeatSender(uplink, "lintong-hall", config, outbox, dict, every=30)
    try:
        first = config.boot()
        edit(hub, "zones", "waiting-area", polygon=[[0, 0], [640, 0], [640, 360], [0, 360]])
        moved = config.pull()
        assert moved is not None and moved.sha256 != first.sha256
        assert moved.deployment.zones[1].polygon[2] == (640.0, 360.0)
        assert (tmp_path / "site.yaml").read_text(encoding="utf-8") == moved.text

        # The hub takes any model path; this box has no such file and refuses the version.
        edit(hub, "models", "person", path="pkg:fall_detection/models/absent.onnx")
        assert config.pull() is None
        assert config.version == moved.sha256 and "absent.onnx" in config.refused
        assert (tmp_path / "site.yaml").read_text(encoding="utf-8") == moved.text  # the last good
        assert sender.send()
        ((kind, detail),) = findings(hub)
        assert kind == "config_refused" and "absent.onnx" in detail
        assert config.pull() is None  # the same refused version: not taken on the next pull either

        edit(hub, "models", "person", path="pkg:fall_detection/models/best_fp16.onnx")
        assert config.pull() is None  # the version the box runs is in force again
        assert config.version == moved.sha256 and config.refused == ""
        assert sender.send()
        assert findings(hub) == []
    finally:
        config.uplink.close()
        outbox.close()
        uplink.close()
