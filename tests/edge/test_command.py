"""`offsite edge` as a site's box runs it: a file camera analysed on the box, its events and
evidence shipped through the outbox to a real hub whose link is down when the first finding comes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from api.auth import Role
from harness.tcpproxy import TcpProxy
from hub.host import wait_for
from offsite import scenes
from tests.api.conftest import serve
from tests.conftest import REPO, Server
from tests.edge.conftest import evidence_at_hub
from tests.vision.conftest import config

CALLERS: dict[str, tuple[Role, str | None, str | None]] = {
    "admin": ("admin", None, None),
    "box": ("edge", None, "hall"),
}


def edge(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "offsite.cli", "edge", *args],
        env={**base, "PYTHONPATH": str(REPO), "COLUMNS": "200", **env},
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def test_a_config_spanning_sites_is_refused_unless_the_box_site_is_named(tmp_path: Path) -> None:
    text = (REPO / "configs" / "demo.yaml").read_text(encoding="utf-8")
    at = text.index("  - id: hall-waiting")
    (tmp_path / "two.yaml").write_text(text[:at] + text[at:].replace("lintong-hall", "lintong-coldstore", 1))
    env = {"OFFSITE_HUB_URL": "http://127.0.0.1:9", "OFFSITE_EDGE_TOKEN": "unused"}
    for args, said in [
        (
            [],
            "the cameras span 2 sites (lintong-coldstore, lintong-hall); a box serves one",
        ),
        (["--site", "nowhere"], "no site nowhere in the deployment"),
    ]:
        out, _ = edge(["-c", "two.yaml", *args], tmp_path, **env).communicate(timeout=60)
        assert said in out, out
    missing = edge(["-c", "two.yaml", "--site", "lintong-hall"], tmp_path)
    out, _ = missing.communicate(timeout=60)
    assert missing.returncode == 2 and "OFFSITE_HUB_URL" in out and "OFFSITE_EDGE_TOKEN" in out, out


def outbox_events(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT count(*) FROM spool WHERE kind = 'event'").fetchone()[0])
        except sqlite3.OperationalError:  # created, its tables not yet
            return 0


def test_offsite_edge_ships_a_camera_scenario_through_a_link_that_was_down(
    embedded_server: Server, tmp_path: Path
) -> None:
    scenes.write_clip(scenes.queue_builds(max_people=5, every=1.5, duration=14.0), tmp_path / "clip.mp4")
    loaded = config({"type": "count", "min_count": 4, "min_duration": 2}, zone=scenes.WAITING_ZONE)
    (tmp_path / "hall.yaml").write_text(loaded.text, encoding="utf-8")
    with serve(embedded_server, tmp_path / "hub", str(tmp_path / "hall.yaml"), CALLERS) as hub:
        url = httpx.URL(hub.url)
        proxy = TcpProxy((url.host, url.port or 80))
        proxy.set_mode("reset")  # the hub is unreachable when the box starts
        box = edge(
            ["-c", "hall.yaml", "--every", "1"], tmp_path,
            OFFSITE_HUB_URL=proxy.url, OFFSITE_EDGE_TOKEN=hub.tokens["box"],
            OFFSITE_DATA_DIR=str(tmp_path / "box"), OFFSITE_HEARTBEAT_EVERY="0.5",
        )  # fmt: skip
        try:

            def running(ok: bool) -> bool:
                assert box.poll() is None, box.communicate()[0]
                return ok

            outbox = tmp_path / "box" / "outbox" / "hall.sqlite"
            wait_for(lambda: running(outbox_events(outbox) > 0), 90, step=0.2)  # a finding, kept on disk
            proxy.set_mode("pass")

            def alerted() -> bool:
                with hub.hub.db.transaction() as conn:
                    alerts = conn.execute("SELECT count(*) FROM alerts WHERE rule = 'rule'").fetchone()
                    beat = conn.execute("SELECT cameras FROM edge_boxes WHERE box = 'box'").fetchone()
                return running(alerts == (1,) and beat is not None and beat[0] == {"cam": "online"})

            wait_for(alerted, 60, step=0.2)
            box.send_signal(signal.SIGTERM)
            out, _ = box.communicate(timeout=60)
        finally:
            if box.poll() is None:
                box.kill()
                box.communicate()
            proxy.close()
        assert box.returncode == 0, out
        assert "edge: site hall, 1 cameras" in out, out
        with hub.hub.db.transaction() as conn:
            cited = {sha for (ev,) in conn.execute("SELECT evidence FROM events") for sha in ev}
            site = conn.execute("SELECT DISTINCT site FROM events").fetchall()
        assert site == [("hall",)]
        assert cited and cited <= set(evidence_at_hub(hub))  # each picture there, its hash verified


def test_offsite_edge_runs_the_hub_config_takes_an_edit_refuses_what_it_cannot_run_and_starts_from_its_copy(
    embedded_server: Server, tmp_path: Path
) -> None:
    loaded = config({"type": "count", "min_count": 4, "min_duration": 2}, zone=scenes.WAITING_ZONE)
    (tmp_path / "hall.yaml").write_text(loaded.text + "edge: {config_every: 0.5}\n", encoding="utf-8")
    with serve(embedded_server, tmp_path / "hub", str(tmp_path / "hall.yaml"), CALLERS) as hub:
        env = {
            "OFFSITE_EDGE_TOKEN": hub.tokens["box"],
            "OFFSITE_DATA_DIR": str(tmp_path / "box"),
            "OFFSITE_HEARTBEAT_EVERY": "0.5",
        }

        def served() -> str:
            return hub.call("box", "GET", "/edge/config").headers["ETag"].strip('"')

        def reported() -> tuple[str, list[str]]:
            (found,) = hub.call("admin", "GET", "/edge/boxes").json() or [
                {"config_version": "", "findings": []}
            ]
            return found["config_version"], [f["kind"] for f in found["findings"]]

        def edit(section: str, key: str, **changes: object) -> None:
            entry = hub.call("admin", "GET", f"/config/{section}/{key}").json()
            answer = hub.call("admin", "PUT", f"/config/{section}/{key}", json={**entry, **changes})
            assert answer.status_code == 200, answer.text

        box = edge(["--every", "1"], tmp_path, OFFSITE_HUB_URL=hub.url, **env)
        try:

            def running(ok: bool) -> bool:
                assert box.poll() is None, box.communicate()[0]
                return ok

            first = served()
            wait_for(lambda: running(reported() == (first, [])), 90, step=0.2)
            edit("zones", "zone", polygon=[[0, 0], [640, 0], [640, 360], [0, 360]])
            second = served()
            wait_for(lambda: running(reported() == (second, [])), 60, step=0.2)  # taken while running
            edit("models", "person", path="pkg:fall_detection/models/absent.onnx")
            wait_for(lambda: running(reported() == (second, ["config_refused"])), 60, step=0.2)
            box.send_signal(signal.SIGTERM)
            out, _ = box.communicate(timeout=60)
        finally:
            if box.poll() is None:
                box.kill()
                box.communicate()
        assert box.returncode == 0, out
        assert f"edge: config {second[:12]} in force" in out and "absent.onnx" in out, out
    # The hub is gone: the box starts on the last good config it kept.
    again = edge(
        ["--every", "1"], tmp_path, OFFSITE_HUB_URL="http://127.0.0.1:9", PYTHONUNBUFFERED="1", **env
    )
    assert again.stdout is not None
    try:
        said = []
        while not said or ("edge: site" not in said[-1] and said[-1]):  # up, or exited
            said.append(again.stdout.readline())
        again.send_signal(signal.SIGTERM)
        out, _ = again.communicate(timeout=60)
        out = "".join(said) + out
    finally:
        if again.poll() is None:
            again.kill()
            again.communicate()
    assert again.returncode == 0, out
    assert f"starting on the kept config {second[:12]}" in out and "edge: site hall, 1 cameras" in out, out
