"""YOLOv8 / YOLO11 ONNX exports on onnxruntime, without torch.

The letterbox, the head's decoding and NMS are `vision.detectors.yolo`'s, shared with OpenVINO;
here: the session, its threads, and the execution providers a device asks for (TensorRT, CUDA,
CPU), with a logged fallback to CPU where a GPU provider is missing, unless the model's
`required` says it must run where it was asked to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from vision.detectors.base import DetectorSpec, usable_cores
from vision.detectors.yolo import Blob, Layout, YoloExport
from vision.models import ModelError, data_dir

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider"}
INPUT_TYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
Provider = str | tuple[str, dict[str, Any]]


def choose_providers(spec: DetectorSpec, available: Sequence[str]) -> list[Provider]:
    """onnxruntime execution providers for the spec's device, best first, each with its options.

    cpu: CPU only. cuda[:N]: TensorRT (CUDA behind it for what TensorRT cannot run), or CUDA
    alone when the spec's `provider` says so, then CPU, keeping those this onnxruntime has. A
    provider asked for and missing (any GPU provider, when none is named) is logged and the model
    runs on what is left, or, when the spec is `required`, refused with a `ModelError` that says
    what to install.
    """
    if spec.device == "cpu":
        return [CPU]
    wanted = [PROVIDERS["tensorrt"], PROVIDERS["cuda"]] if spec.provider != "cuda" else [PROVIDERS["cuda"]]
    names = [p for p in wanted if p in available]
    if not names or (spec.provider and names[0] != wanted[0]):
        asked = f"detector device {spec.device}" + (f", provider {spec.provider}," if spec.provider else "")
        runs = names[0] if names else CPU
        have = f"this onnxruntime has {', '.join(available)}"
        if spec.required:
            raise ModelError(
                f"{asked} is required, but {have}; install onnxruntime-gpu (and TensorRT for tensorrt) "
                "or set the model's required: false to run on what is here"
            )
        log.warning("%s asked for, but %s (install onnxruntime-gpu): running on %s", asked, have, runs)
    gpu = int(spec.device.partition(":")[2] or 0)
    chosen: list[Provider] = []
    for name in names:
        if name == PROVIDERS["cuda"]:
            chosen.append((name, {"device_id": gpu}))
        else:
            cache = data_dir() / "tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            # Building an engine takes minutes: keep it between runs.
            options = {"device_id": gpu, "trt_fp16_enable": spec.half, "trt_engine_cache_enable": True}
            chosen.append((name, {**options, "trt_engine_cache_path": str(cache)}))
    return [*chosen, CPU]


class OnnxDetector(YoloExport):
    """A YOLOv8 / YOLO11 detection model exported to ONNX, run by onnxruntime.

    `half` only enables FP16 in TensorRT: on CPU and CUDA the model runs in the type it was
    exported with.
    """

    def __init__(self, path: Path, spec: DetectorSpec) -> None:
        self._session = self._open(path, spec)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1:
            raise ModelError(
                f"{path}: expected one image input batch x 3 x H x W, found {len(inputs)} inputs"
            )
        source = inputs[0]
        if source.type not in INPUT_TYPES:
            raise ModelError(f"{path}: input type {source.type} is not supported (float or float16 only)")
        self._input, self._output = source.name, outputs[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        layout = Layout(_dims(source.shape), INPUT_TYPES[source.type], _dims(outputs[0].shape), meta)
        super().__init__(path, spec, layout)

    @staticmethod
    def _open(path: Path, spec: DetectorSpec) -> ort.InferenceSession:
        options = ort.SessionOptions()
        # Like ultralytics for torch: one core left to the camera decoders, at most 8 threads.
        options.intra_op_num_threads = spec.threads or min(8, max(1, usable_cores() - 1))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only; the fallbacks are logged here
        chosen = choose_providers(spec, ort.get_available_providers())
        try:
            session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelError(f"{path} is not an ONNX model onnxruntime can load: {exc}") from exc
        wanted = chosen[0] if isinstance(chosen[0], str) else chosen[0][0]
        running = session.get_providers()[0]
        if running != wanted:  # a GPU provider present but failing to start (no driver, no device)
            if spec.required:
                raise ModelError(f"{path.name}: {wanted} did not start (required), it would run on {running}")
            log.warning("%s: %s did not start, running on %s", path.name, wanted, running)
        return session

    def describe(self) -> str:
        provider = self._session.get_providers()[0].removesuffix("ExecutionProvider")
        return f"onnxruntime {self.path.name} on {provider} ({self.device}), {self.input_description()}"

    @property
    def input_name(self) -> str:
        return str(self._input)

    def _run(self, blobs: Sequence[Blob]) -> list[npt.NDArray[Any]]:
        return [self._session.run([self._output], {self._input: blob})[0] for blob in blobs]


def _dims(shape: Sequence[int | str | None]) -> tuple[int | None, ...]:
    """A shape with its dynamic (named or unknown) dimensions as None."""
    return tuple(d if isinstance(d, int) else None for d in shape)
