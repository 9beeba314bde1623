"""A new version of the deployment taken camera by camera: a camera it left alone keeps its capture,
analyser and rule state (its open finding still clears at the hub), a changed one restarts, a
disabled one stops, and each of those two clears the findings it had open."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from capture.frames import Image
from capture.worker import WorkerSettings
from hub.config import LoadedConfig, parse_config
from hub.host import wait_for
from hub.runtime import Hub
from offsite import scenes
from tests.vision.conftest import config
from vision.detections import Detections
from vision.service import VisionService
from vision.sink import HubSink

CAMERAS = ("a", "b", "c")
POST = [[700, 360], [1200, 360], [1200, 700], [700, 700]]


class Post:
    """A detector that sees one person in the middle of each picture while `manned` is set: the
    posts are empty (their absence rules fire) until the test mans them."""

    def __init__(self) -> None:
        self.names = {0: "Normal"}
        self.manned = threading.Event()
        self.calls = 0

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        self.calls += len(images)
        out = []
        for image in images:
            h, w = image.shape[:2]
            if not self.manned.is_set():
                out.append(Detections.empty())
                continue
            box = [[0.4 * w, 0.3 * h, 0.6 * w, 0.7 * h]]
            out.append(Detections.build(box, [0.9], [0], ["Normal"]))
        return out

    def describe(self) -> str:
        return "post"


def three_posts(edit: dict[str, Any] | None = None) -> LoadedConfig:
    """Cameras a, b, c on one looping clip, each with an absence rule on its post; `edit` replaces
    fields of cameras, zones or models (by id)."""
    one = config({"type": "absence", "max_absence": 1, "smoothing": 0.5}, zone=POST)
    data = yaml.safe_load(one.text)
    camera, zone, rule = data["cameras"][0], data["zones"][0], data["rules"][0]
    camera["detect"]["motion"] = {"enabled": False}  # every frame to the detector
    camera |= {"loop": True, "stale_after": 30}
    data["cameras"] = [{**camera, "id": c, "name": f"岗位{c}"} for c in CAMERAS]
    data["zones"] = [{**zone, "id": f"post-{c}", "camera": c} for c in CAMERAS]
    data["rules"] = [{**rule, "id": f"absent-{c}", "camera": c, "zone": f"post-{c}"} for c in CAMERAS]
    for entry in data["cameras"] + data["zones"] + data["vision"]["models"]:
        entry |= (edit or {}).get(entry["id"], {})
    text = yaml.safe_dump(data, allow_unicode=True)
    return LoadedConfig(parse_config(text), hashlib.sha256(text.encode()).hexdigest(), text)


def alerts(hub: Hub) -> dict[str, list[str]]:
    """Each rule's alerts' statuses, oldest first."""
    out: dict[str, list[str]] = {}
    with hub.db.transaction() as conn:
        for rule, status in conn.execute("SELECT rule, status FROM alerts ORDER BY id"):
            out.setdefault(str(rule), []).append(str(status))
    return out


def clears(hub: Hub) -> dict[str, tuple[str, str]]:
    """Each rule's clear events: (event id, reason)."""
    with hub.db.transaction() as conn:
        rows = conn.execute("SELECT rule, id, payload FROM events WHERE cleared ORDER BY time").fetchall()
    return {str(rule): (str(event), str(payload.get("reason"))) for rule, event, payload in rows}


def test_a_new_version_restarts_only_the_cameras_it_changed(start_hub: Any) -> None:
    scenes.write_clip(scenes.standing_still(duration=2.0), Path("clip.mp4"), fps=5)
    first = three_posts()
    hub = start_hub(first)
    post = Post()
    service = VisionService(first.deployment, HubSink(hub), WorkerSettings(), detectors={"person": post})
    with service:
        everyone = {f"absent-{c}": ["open"] for c in CAMERAS}
        wait_for(lambda: alerts(hub) == everyone, 60, step=0.1, failure="the empty posts raised no alerts")
        kept = service.analysers["a"], service.ingest.workers["a"], service.detectors["person"]
        restarted = service.ingest.workers["b"]

        moved = [[640, 340], [1270, 340], [1270, 715], [640, 715]]
        done = service.reconfigure(
            three_posts({"post-b": {"polygon": moved}, "c": {"enabled": False}}).deployment
        )

        assert (done.kept, done.restarted, done.stopped, done.started) == (["a"], ["b"], ["c"], [])
        assert (service.analysers["a"], service.ingest.workers["a"], service.detectors["person"]) == kept
        published = kept[1].stats.frames_published
        assert service.ingest.workers["b"] is not restarted
        assert "c" not in service.ingest.workers and "c" not in service.analysers
        # The changed and the stopped cameras cleared what they had open, at once.
        assert alerts(hub)["absent-c"] == ["closed"]
        assert clears(hub)["absent-c"][1] == "camera_removed"
        assert clears(hub)["absent-b"][1] == "camera_changed"
        # Camera a's absence still runs: manned again, its alert from before the edit clears.
        with hub.db.transaction() as conn:
            fired = {str(e) for (e,) in conn.execute("SELECT id FROM events WHERE rule = 'absent-a'")}
        post.manned.set()
        wait_for(lambda: "absent-a" in clears(hub), 30, step=0.1, failure="camera a's finding never cleared")
        event, reason = clears(hub)["absent-a"]
        assert reason == "returned" and event.removesuffix(":clear") + ":fire" in fired
        assert alerts(hub)["absent-a"] == ["closed"]
        assert kept[1].stats.frames_published > published and kept[1].stats.connects == 1  # never reconnected


def test_a_model_is_loaded_once_and_again_only_when_its_settings_change(start_hub: Any) -> None:
    first = three_posts()
    service = VisionService(first.deployment, HubSink(start_hub(first)))
    worker = service.detectors["person"]
    done = service.reconfigure(three_posts({"c": {"enabled": False}}).deployment)
    assert done.kept == ["a", "b"] and service.detectors["person"] is worker

    done = service.reconfigure(three_posts({"c": {"enabled": False}, "person": {"threads": 1}}).deployment)
    assert done.restarted == ["a", "b"]  # a model's cameras restart on its new settings
    assert service.detectors["person"] is not worker
    assert service.detectors["person"].detector is not worker.detector
    assert list(service.detectors) == ["person"]
