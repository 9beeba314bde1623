"""A box follows an edit made at the hub without restarting the cameras the edit left alone: their
open findings clear at the hub after the edit as before it; a changed camera restarts and a
disabled one stops, each clearing at the hub what it had open."""

from __future__ import annotations

from pathlib import Path

from api.auth import Role
from edge.box import Analysis, BoxSink
from edge.config import SiteConfig
from edge.uplink import HubUplink
from hub.host import wait_for
from offsite import scenes
from tests.api.conftest import Api, serve
from tests.conftest import Server
from tests.edge.conftest import TIMEOUT, box
from tests.vision.test_service_reconfigure import Post, three_posts

CALLERS: dict[str, tuple[Role, str | None, str | None]] = {
    "admin": ("admin", None, None),
    "box": ("edge", None, "hall"),
}


def alerts(hub: Api) -> dict[str, list[str]]:
    """Each rule's alerts' statuses at the hub, oldest first."""
    out: dict[str, list[str]] = {}
    with hub.hub.db.transaction() as conn:
        for rule, status in conn.execute("SELECT rule, status FROM alerts ORDER BY id"):
            out.setdefault(str(rule), []).append(str(status))
    return out


def edit(hub: Api, section: str, key: str, **changes: object) -> None:
    entry = hub.call("admin", "GET", f"/config/{section}/{key}").json()
    answer = hub.call("admin", "PUT", f"/config/{section}/{key}", json={**entry, **changes})
    assert answer.status_code == 200, answer.text


def test_a_box_takes_an_edit_restarting_only_the_cameras_it_changed(
    embedded_server: Server, tmp_path: Path
) -> None:
    scenes.write_clip(scenes.standing_still(duration=2.0), tmp_path / "clip.mp4", fps=5)
    text = three_posts().text.replace("file:clip.mp4", f"file:{tmp_path / 'clip.mp4'}")
    (tmp_path / "hall.yaml").write_text(text, encoding="utf-8")
    with serve(embedded_server, tmp_path / "hub", str(tmp_path / "hall.yaml"), CALLERS) as hub:
        config = SiteConfig(HubUplink(hub.url, hub.tokens["box"], timeout=TIMEOUT), tmp_path / "site.yaml")
        outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box"])
        post = Post()
        deployment = config.boot().deployment
        sink = BoxSink(outbox, deployment)
        analysis = Analysis(deployment, sink, outbox, detectors={"person": post})
        config.check = analysis.prepare
        analysis.service.start()
        try:
            everyone = {f"absent-{c}": ["open"] for c in ("a", "b", "c")}
            wait_for(lambda: alerts(hub) == everyone, 60, step=0.1, failure="no alerts for the empty posts")
            analyser, worker = analysis.service.analysers["a"], analysis.service.ingest.workers["a"]
            assert sink.cameras == {"a": "online", "b": "online", "c": "online"}

            edit(hub, "zones", "post-b", polygon=[[640, 340], [1270, 340], [1270, 715], [640, 715]])
            edit(hub, "cameras", "c", enabled=False)
            assert analysis.follow(config)

            assert (
                analysis.service.analysers["a"] is analyser and analysis.service.ingest.workers["a"] is worker
            )
            assert worker.stats.connects == 1
            assert sink.cameras["a"] == "online" and "c" not in sink.cameras
            wait_for(
                lambda: alerts(hub)["absent-c"] == ["closed"] and alerts(hub)["absent-b"][0] == "closed",
                30,
                step=0.1,
                failure="the disabled and the changed camera's alerts stayed open",
            )
            assert alerts(hub)["absent-a"] == ["open"]
            post.manned.set()  # camera a's post manned: its alert from before the edit clears
            wait_for(lambda: alerts(hub)["absent-a"] == ["closed"], 30, step=0.1, failure="a never cleared")
            assert worker.stats.connects == 1
        finally:
            analysis.service.stop()
            outbox.close()
            uplink.close()
            config.uplink.close()
