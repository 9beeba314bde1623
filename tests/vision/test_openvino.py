"""The OpenVINO backend on the real person model: the same files as onnxruntime (fixed FP32, dynamic
input, INT8), the same boxes, from the cameras' threads, in detector processes, and through a
scenario's whole chain into the hub."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from capture.frames import Image
from offsite import scenes
from tests.vision.conftest import MODEL, analyser_for, config, events, play
from vision.batcher import DetectorWorker
from vision.detections import Detections, box_iou
from vision.detectors import Detector, DetectorSpec, ModelError, load_detector
from vision.detectors.openvino import COMPILED_SIZES, OpenVinoDetector
from vision.detectors.process import ProcessDetector
from vision.quantize import quantize
from vision.region import Region

REPO = Path(__file__).resolve().parents[2]
SCENES = (
    scenes.queue_builds(max_people=4, every=1.5),
    scenes.walks_across(),
    scenes.window_post_left(leave_at=1.0, duration=4.0),
    scenes.standing_still(arrive_at=0.5, duration=4.0),
)
KEPT = 0.35  # what a camera keeps by default (vision.min_confidence)


def frames(per_scene: int = 3, size: tuple[int, int] = (1920, 1080)) -> list[Image]:
    """Pictures of the scenario scenes, scaled to 1080p as a camera sends them."""
    return [
        np.asarray(cv2.resize(scenes.render(scene, float(t)), size), np.uint8)
        for scene in SCENES
        for t in np.linspace(0.6, scene.duration - 0.5, per_scene)
    ]


def assert_same_boxes(reference: list[Detections], other: list[Detections]) -> int:
    """Each picture: the same count of kept boxes, each at IoU >= 0.97 with one of the other's."""
    boxes = 0
    for i, (a, b) in enumerate(zip(reference, other, strict=True)):
        a, b = a[a.confidence >= KEPT], b[b.confidence >= KEPT]
        assert len(a) == len(b), (i, a.confidence, b.confidence)
        if len(a):
            overlaps = box_iou(a.xyxy, b.xyxy).max(axis=1)
            assert (overlaps >= 0.97).all(), (i, overlaps)
            assert sorted(a.labels.tolist()) == sorted(b.labels.tolist())
        boxes += len(a)
    return boxes


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, rectangular: Detector) -> dict[str, str]:
    """The shipped fixed-size FP32 file, the dynamic export and its INT8 (`vision.quantize`)."""
    dynamic = rectangular.path  # type: ignore[attr-defined]
    folder = tmp_path_factory.mktemp("openvino")
    calibration = [scenes.render(scene, 1.0) for scene in SCENES[1:3]]
    return {
        "fixed": MODEL,
        "dynamic": str(dynamic),
        "int8": str(quantize(Path(dynamic), folder / "int8.onnx", calibration)),
    }


@pytest.mark.parametrize("model", ["fixed", "dynamic", "int8"])
def test_openvino_finds_what_onnxruntime_does_on_the_same_file(model: str, models: dict[str, str]) -> None:
    onnxruntime = load_detector(DetectorSpec(models[model], threads=1))
    openvino = load_detector(DetectorSpec(models[model], backend="openvino", threads=1))
    assert isinstance(openvino, OpenVinoDetector) and openvino.names == {0: "Normal", 1: "Fall"}
    pictures = frames()
    assert assert_same_boxes(onnxruntime.detect(pictures), openvino.detect(pictures)) >= 12
    if model != "fixed":  # a 16:9 frame runs at 640 x 384, not padded to a square
        assert openvino.input_size(1080, 1920) == (384, 640)


def test_crops_run_at_their_own_size_with_the_boxes_of_onnxruntime(models: dict[str, str]) -> None:
    onnxruntime = load_detector(DetectorSpec(models["dynamic"], threads=1))
    openvino = load_detector(DetectorSpec(models["dynamic"], backend="openvino", threads=1))
    region = Region((496, 196, 1280, 720))  # the waiting zone plus 0.2 of the height (test_throughput)
    crops = [region.cut(scenes.render(SCENES[0], t), 640) for t in (3.0, 6.0)]
    assert {c.image.shape for c in crops} == {(264, 416, 3)}
    found = [[crop.restore(d.detect([crop.image])[0]) for crop in crops] for d in (onnxruntime, openvino)]
    assert assert_same_boxes(*found) >= 3


def test_crops_of_many_sizes_keep_a_few_compiled(models: dict[str, str]) -> None:
    onnxruntime = load_detector(DetectorSpec(models["dynamic"], threads=1))
    openvino = load_detector(DetectorSpec(models["dynamic"], backend="openvino", threads=1))
    assert isinstance(openvino, OpenVinoDetector)
    picture = scenes.render(SCENES[0], 6.0)
    crops = [
        picture[:h, 300 : 300 + w] for h, w in zip(range(320, 640, 32), range(416, 736, 32), strict=True)
    ]
    assert assert_same_boxes(onnxruntime.detect(crops), openvino.detect(crops)) >= 10  # ten sizes at once
    assert len(openvino.compiled_sizes) == COMPILED_SIZES
    assert openvino.compiled_sizes[-1] == (1, 3, *openvino.input_size(608, 704))  # the latest kept


def test_throughput_hint_runs_a_batch_at_once_with_the_same_boxes(models: dict[str, str]) -> None:
    latency = load_detector(DetectorSpec(models["fixed"], backend="openvino", threads=1))
    throughput = load_detector(
        DetectorSpec(models["fixed"], backend="openvino", hint="throughput", threads=1)
    )
    assert "latency hint, 1 stream(s), 1 thread(s)" in latency.describe()
    assert "throughput hint" in throughput.describe()
    pictures = frames(per_scene=2)
    # A fixed batch of 1: eight requests, several at once under the throughput hint.
    assert_same_boxes(latency.detect(pictures), throughput.detect(pictures))


def test_detector_threads_share_one_openvino_model(models: dict[str, str]) -> None:
    spec = DetectorSpec(models["dynamic"], backend="openvino", threads=1, streams=2)
    detector = load_detector(spec)
    assert "2 stream(s), 2 thread(s)" in detector.describe()
    pictures = frames(per_scene=2)
    expected = [detector.detect([p])[0] for p in pictures]
    with DetectorWorker(detector, max_batch=1, max_wait=0, threads=2) as worker:
        futures = [worker.submit(p) for p in pictures]
        assert_same_boxes(expected, [f.result(timeout=120) for f in futures])


def test_openvino_runs_in_detector_processes(models: dict[str, str]) -> None:
    pictures = frames(per_scene=1)
    expected = load_detector(DetectorSpec(models["fixed"], backend="openvino", threads=1)).detect(pictures)
    isolated = ProcessDetector(DetectorSpec(models["fixed"], backend="openvino", threads=1), processes=1)
    try:
        assert isolated.describe().startswith("openvino ")
        assert_same_boxes(expected, isolated.detect(pictures))
    finally:
        isolated.close()


def test_a_scenario_fires_with_the_deployments_openvino_model(start_hub: Any) -> None:
    """The absence of the clerk, a deployment whose model says `backend: openvino`."""
    loaded = config({"type": "absence", "max_absence": 3.0, "smoothing": 1}, zone=scenes.POST_ZONE)
    model = loaded.deployment.vision.models[0].model_copy(update={"backend": "openvino", "workers": 1})
    detector = load_detector(DetectorSpec.of(model))
    assert isinstance(detector, OpenVinoDetector)
    hub = start_hub(loaded)
    scenes.write_clip(scenes.window_post_left(leave_at=2.0, duration=9.0), Path("clip.mp4"))
    play(Path("clip.mp4"), analyser_for(hub, detector), fps=5)
    found = events(hub)
    assert [(cleared, outcome) for _, cleared, outcome, _ in found] == [(False, "opened")], found
    assert 5.0 <= found[0][0] <= 7.0, found  # left at 2 s, out of the picture 1.8 s later, 3 s allowed
    assert found[0][3] >= 1  # with its evidence picture


def test_openvino_refuses_what_it_cannot_run(tmp_path: Path) -> None:
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model")
    with pytest.raises(ModelError, match=r"fake\.onnx is not an ONNX model OpenVINO can read"):
        load_detector(DetectorSpec(str(fake), backend="openvino"))
    with pytest.raises(ValueError, match="openvino backend runs on the CPU"):
        DetectorSpec(MODEL, backend="openvino", device="cuda")


def test_openvino_backend_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom vision.detectors import DetectorSpec, load_detector\n"
        f"load_detector(DetectorSpec({MODEL!r}, backend='openvino'))\n"
        "print('torch' in sys.modules, 'onnxruntime' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", "False"], run.stdout + run.stderr
