"""What lets a small box analyse more cameras: a rectangular model input, detection only around the
rules' zones, and detector workers that fill the box. Each keeps the findings the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from capture.frames import Frame, Image
from capture.worker import CameraWorker
from hub.config.vision import DetectorModel
from hub.host import wait_until
from offsite import scenes
from tests.vision.conftest import MODEL, config, play
from vision.analysis import CameraAnalyser
from vision.batcher import DetectorWorker
from vision.detections import Detections, box_iou
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.detectors.base import share_cores
from vision.detectors.onnx import OnnxDetector
from vision.detectors.process import ProcessDetector
from vision.quantize import agreement, quantize
from vision.region import Region
from vision.rules import build_rules
from vision.service import VisionService
from vision.sink import HubSink

KEPT = 0.35  # vision.min_confidence's default: what a camera keeps


def kept(found: Detections) -> Detections:
    return found[found.confidence >= KEPT]


SCENES = {
    "queue": scenes.queue_builds(max_people=4, every=1.5),
    "walk": scenes.walks_across(),
    "post": scenes.window_post_left(leave_at=1.0, duration=4.0),
    "still": scenes.standing_still(arrive_at=0.5, duration=4.0),
}


def test_the_rectangular_model_finds_what_the_padded_one_does(
    detector: Detector, rectangular: Detector
) -> None:
    """640 x 384 instead of 640 x 640 for the scenario pictures: F1 >= 0.97 at IoU 0.5 against
    the padded run, on what a camera keeps."""
    pictures = scene_pictures(4)
    padded = [kept(found) for found in detector.detect(pictures)]
    found = agreement(padded, [kept(found) for found in rectangular.detect(pictures)])
    assert found.matched >= 16, found  # the scenes do show people
    assert found.f1 >= 0.97, found


def scene_pictures(per_scene: int, offset: float = 0.5) -> list[Image]:
    """`per_scene` pictures of each scenario scene, spread over it from `offset` seconds."""
    return [
        scenes.render(scene, float(t))
        for scene in SCENES.values()
        for t in np.linspace(offset, scene.duration - 0.5, per_scene)
    ]


def test_int8_agrees_with_fp32_on_pictures_it_was_not_calibrated_on(
    rectangular: Detector, tmp_path: Path
) -> None:
    assert isinstance(rectangular, OnnxDetector)
    int8 = quantize(rectangular.path, tmp_path / "int8.onnx", scene_pictures(2, offset=0.3))
    quantized = load_detector(DetectorSpec(str(int8), threads=1))
    held_out = scene_pictures(3, offset=0.7)
    fp32 = [kept(found) for found in rectangular.detect(held_out)]
    found = agreement(fp32, [kept(found) for found in quantized.detect(held_out)])
    assert found.matched >= 12 and found.f1 >= 0.97, found


def test_a_crop_around_the_zone_finds_its_people_where_the_whole_picture_does(rectangular: Detector) -> None:
    loaded = config({"type": "presence"}, zone=scenes.WAITING_ZONE)
    deployment = loaded.deployment
    zones = {z.id: z.polygon for z in deployment.zones}
    region = Region.of(build_rules(deployment, "cam"), zones, 0.2, (scenes.HEIGHT, scenes.WIDTH))
    picture = scenes.render(SCENES["queue"], 6.0)  # the clerk behind the counter, four people queuing

    crop = region.cut(picture, imgsz=640)
    in_crop = kept(crop.restore(rectangular.detect([crop.image])[0]))
    whole = kept(rectangular.detect([picture])[0])

    # The waiting zone and its margin: 416 x 264 detector pixels (416 x 288 in) against 640 x 360
    # (640 x 384 in) for the whole picture.
    assert crop.image.shape == (264, 416, 3)
    assert len(in_crop) == 4, in_crop.xyxy  # the queue, mapped back to the picture's pixels
    overlaps = box_iou(in_crop.xyxy, whole.xyxy).max(axis=1)
    assert (overlaps >= 0.95).all(), overlaps  # the same pixels on the same grid: the same boxes
    clerk = scenes.truth(SCENES["queue"], 6.0).boxes["clerk"]
    assert box_iou(np.asarray([clerk], np.float32), whole.xyxy).max() >= 0.5  # seen in the whole picture
    assert box_iou(np.asarray([clerk], np.float32), in_crop.xyxy).max() == 0  # outside every zone: not needed


@pytest.mark.parametrize(
    ("margin", "rule", "expected"),
    [
        (0.2, {"type": "presence"}, (496, 196, 1280, 720)),
        (None, {"type": "presence"}, None),  # crop_margin: null detects the whole picture
        (0.9, {"type": "presence"}, None),  # nearly the whole picture: no cut
        (0.2, {"type": "line_crossing", "forbidden": "left_to_right"}, None),  # walkers tracked on both sides
    ],
)
def test_the_region_is_the_zones_box_widened_by_the_margin(
    margin: float | None, rule: dict[str, Any], expected: tuple[int, int, int, int] | None
) -> None:
    place = (
        {"line": scenes.CROSSING_LINE} if rule["type"] == "line_crossing" else {"zone": scenes.WAITING_ZONE}
    )
    deployment = config(rule, **place).deployment
    zones = {z.id: z.polygon for z in deployment.zones}
    region = Region.of(build_rules(deployment, "cam"), zones, margin, (scenes.HEIGHT, scenes.WIDTH))
    assert region.box == expected


def test_a_camera_sends_only_its_rules_region_and_still_fires(start_hub: Any, rectangular: Detector) -> None:
    hub = start_hub(config({"type": "count", "min_count": 3, "min_duration": 2}, zone=scenes.WAITING_ZONE))
    deployment = hub.config.deployment
    camera = deployment.cameras[0]
    shapes: list[tuple[int, ...]] = []

    def detect(frame: Frame) -> Detections:
        shapes.append(frame.image.shape)
        return rectangular.detect([frame.image])[0]

    analyser = CameraAnalyser(deployment, camera, CameraWorker(camera), detect, HubSink(hub))
    scenes.write_clip(scenes.queue_builds(max_people=4, every=1.5, duration=9.0), Path("clip.mp4"), fps=2)
    play(Path("clip.mp4"), analyser, fps=2)
    assert shapes and shapes[0] == (264, 416, 3)  # the waiting zone's box at the full frame's scale
    assert all(h <= 264 and w <= 416 for h, w, _ in shapes), shapes  # then the parts of it that moved
    with hub.db.transaction() as conn:
        fired = conn.execute("SELECT count(*) FROM events WHERE NOT cleared").fetchone()
    assert fired == (1,)


@pytest.mark.parametrize(
    ("workers", "threads", "cores", "expected"),
    [
        (None, None, 2, (2, 1)),  # default: a worker per core, each on one core
        (None, None, 16, (16, 1)),
        (1, None, 2, (1, 2)),  # one worker gets every core
        (None, 2, 4, (2, 2)),
        (3, 1, 2, (3, 1)),  # both given: as given
    ],
)
def test_detector_workers_and_threads_fill_the_box_unless_given(
    workers: int | None, threads: int | None, cores: int, expected: tuple[int, int]
) -> None:
    assert share_cores(workers, threads, cores) == expected


def test_the_box_is_the_cores_this_process_may_use_not_the_hosts() -> None:
    """A box pinned to one core (a container's cpuset, taskset) starts one detector worker."""
    code = "from vision.detectors.base import share_cores; print(*share_cores(None, None))"
    pinned = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert pinned.stdout.split() == ["1", "1"]


def test_the_deployments_workers_and_threads_are_honoured(start_hub: Any, detector: Detector) -> None:
    loaded = config({"type": "presence"}, zone=scenes.WAITING_ZONE)
    model = loaded.deployment.vision.models[0]
    settings = model.model_copy(update={"workers": 3, "threads": 2})
    assert DetectorSpec.of(settings).threads == 2
    assert DetectorSpec.of(DetectorModel(id="m", path="m.onnx", workers=1, threads=3)).threads == 3
    vision = loaded.deployment.vision.model_copy(update={"models": [settings]})
    deployment = loaded.deployment.model_copy(update={"vision": vision})
    service = VisionService(deployment, HubSink(start_hub(loaded)), detectors={"person": detector})
    assert service.detectors["person"].threads == 3


class Gate:
    """A detector whose calls wait until `parties` of them run at once."""

    def __init__(self, parties: int) -> None:
        self.names = {0: "person"}
        self.barrier = threading.Barrier(parties, timeout=30)

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        self.barrier.wait()  # breaks (and fails the futures) unless the others come
        return [Detections.empty() for _ in images]

    def describe(self) -> str:
        return "gate"


def test_two_detector_threads_detect_at_once() -> None:
    picture = np.zeros((64, 64, 3), np.uint8)
    with DetectorWorker(Gate(2), max_batch=1, max_wait=0, threads=2) as worker:
        futures = [worker.submit(picture) for _ in range(2)]
        assert [len(f.result(timeout=60)) for f in futures] == [0, 0]
    with pytest.raises(ValueError, match="threads must be at least 1"):
        DetectorWorker(Gate(1), threads=0)


def test_a_killed_detector_process_is_started_again_and_its_cameras_carry_on(detector: Detector) -> None:
    picture = scenes.render(SCENES["queue"], 6.0)
    expected = detector.detect([picture])[0]
    isolated = ProcessDetector(DetectorSpec(MODEL, threads=1), processes=1)
    try:
        with DetectorWorker(isolated, max_batch=1, max_wait=0) as worker:
            assert_same(worker.submit(picture).result(timeout=60), expected)
            (pid,) = isolated.pids
            os.kill(pid, signal.SIGKILL)
            assert wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=30)
            after = [worker.submit(picture) for _ in range(2)]  # the next frames of the camera
            for future in after:
                assert_same(future.result(timeout=120), expected)
        assert isolated.restarts == 1 and isolated.pids != [pid]
    finally:
        isolated.close()
    assert isolated.pids == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def assert_same(a: Detections, b: Detections) -> None:
    assert len(a) == len(b) and len(a) > 0
    assert (box_iou(a.xyxy, b.xyxy).max(axis=1) >= 0.99).all()


def test_a_model_set_to_processes_runs_in_as_many_as_its_workers(start_hub: Any) -> None:
    loaded = config({"type": "presence"}, zone=scenes.WAITING_ZONE)
    model = loaded.deployment.vision.models[0].model_copy(update={"workers": 2, "processes": True})
    vision = loaded.deployment.vision.model_copy(update={"models": [model]})
    deployment = loaded.deployment.model_copy(update={"vision": vision})
    service = VisionService(deployment, HubSink(start_hub(loaded)))
    isolated = service.detectors["person"].detector
    assert isinstance(isolated, ProcessDetector)
    try:
        assert len(set(isolated.pids)) == 2 and os.getpid() not in isolated.pids
        assert isolated.spec.threads == share_cores(2, None)[1]  # the box's cores shared by the two
    finally:
        isolated.close()
