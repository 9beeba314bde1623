"""GPU settings on a machine without a GPU: each is logged and runs on the CPU, or, where the model
is `required` to run where asked, refused with what to install. (With a GPU the same settings run
TensorRT or CUDA; that path is not measured here.)"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config.vision import DetectorModel
from offsite import scenes
from tests.vision.conftest import MODEL, WEIGHTS
from vision.detectors import DetectorSpec, ModelError, load_detector
from vision.detectors.onnx import choose_providers

CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TensorRT's engine cache under the test's folder, not the working folder's var/."""
    monkeypatch.setenv("OFFSITE_DATA_DIR", str(tmp_path))


def test_cuda_asked_for_without_a_gpu_is_logged_and_runs_on_the_cpu(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        detector = load_detector(DetectorSpec(MODEL, device="cuda"))
    assert "detector device cuda asked for" in caplog.text and f"running on {CPU}" in caplog.text
    assert "on CPU (cuda)" in detector.describe()
    found = detector.detect([scenes.render(scenes.queue_builds(max_people=4, every=1.5), 6.0)])[0]
    assert (found.confidence >= 0.35).sum() >= 4  # the queue, on the CPU


def test_a_required_gpu_is_refused_with_what_to_install() -> None:
    with pytest.raises(ModelError, match=r"device cuda:1, provider tensorrt, is required.*onnxruntime-gpu"):
        load_detector(DetectorSpec(MODEL, device="cuda:1", provider="tensorrt", required=True))


@pytest.mark.parametrize(
    ("provider", "available", "chosen", "logged"),
    [
        # The default tries TensorRT (FP16 with half, engines cached), then CUDA, then the CPU.
        (None, [TENSORRT, CUDA, CPU], [TENSORRT, CUDA, CPU], False),
        (None, [CUDA, CPU], [CUDA, CPU], False),
        ("tensorrt", [CUDA, CPU], [CUDA, CPU], True),  # TensorRT asked for by name and missing
        ("cuda", [TENSORRT, CUDA, CPU], [CUDA, CPU], False),
        ("cuda", [CPU], [CPU], True),
    ],
)
def test_the_execution_providers_follow_the_setting(
    provider: str | None,
    available: list[str],
    chosen: list[str],
    logged: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = DetectorSpec(MODEL, device="cuda:1", provider=provider, half=True)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        providers = choose_providers(spec, available)
    assert [p if isinstance(p, str) else p[0] for p in providers] == chosen
    assert ("asked for" in caplog.text) == logged
    options = dict(p for p in providers if not isinstance(p, str))
    assert all(o["device_id"] == 1 for o in options.values())
    if TENSORRT in options:
        assert options[TENSORRT]["trt_fp16_enable"] and options[TENSORRT]["trt_engine_cache_enable"]
    spec = DetectorSpec(MODEL, device="cuda:1", provider=provider, required=True)  # type: ignore[arg-type]
    if logged:
        with pytest.raises(ModelError, match="is required"):
            choose_providers(spec, available)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"provider": "tensorrt"}, "provider 'tensorrt' is onnxruntime's on a GPU"),
        ({"provider": "cuda", "device": "cuda", "backend": "ultralytics"}, "needs backend onnxruntime"),
        ({"backend": "openvino", "device": "cuda:0"}, "openvino backend runs on the CPU"),
        ({"hint": "throughput"}, "hint 'throughput' is openvino's"),
    ],
)
def test_the_deployment_refuses_runtime_settings_that_do_not_go_together(
    settings: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        DetectorModel(id="person", path=MODEL, **settings)  # type: ignore[arg-type]


def test_ultralytics_on_a_gpu_torch_does_not_see_falls_back_unless_required(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        detector = load_detector(DetectorSpec(WEIGHTS, backend="ultralytics", device="cuda"))
    assert "torch sees 0 CUDA GPU(s): running on cpu" in caplog.text
    assert "on cpu" in detector.describe()
    with pytest.raises(ModelError, match=r"device 'cuda' is required, but torch sees 0"):
        load_detector(DetectorSpec(WEIGHTS, backend="ultralytics", device="cuda", required=True))
