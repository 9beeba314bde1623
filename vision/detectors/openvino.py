"""YOLOv8 / YOLO11 ONNX exports on OpenVINO (Intel's runtime, Frigate's choice on Intel CPUs).

The same ONNX files as onnxruntime (FP32, a dynamic input, the INT8 one `offsite vision
quantize` writes), read directly by OpenVINO's ONNX front end, with the letterbox, decoding and NMS
of `vision.detectors.yolo`: the boxes are the same code's. Here: the compiled model, its threads
and streams, and the PERFORMANCE_HINT.

- latency: `streams` streams (one per detector thread sharing the model), each detection on
  `threads` threads: what the onnxruntime backend does, one detection per worker at a time.
- throughput: OpenVINO picks the streams for the box and the chunks of one call (the frames of
  several cameras a batch brings) run at once, one inference request each.

Precision stays FP32 (or the INT8 of a quantized file): OpenVINO would run BF16 on CPUs that have
it, and boxes would move.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

from vision.detectors.base import DetectorSpec
from vision.detectors.yolo import Blob, Layout, YoloExport
from vision.models import ModelError

log = logging.getLogger(__name__)

INPUT_TYPES: dict[str, type[np.floating[Any]]] = {"f32": np.float32, "f16": np.float16}
# Input sizes kept compiled at once, the least recently used dropped: a camera's frame and its crops
# take a few; motion crops of every size would otherwise hold a copy of the weights each.
COMPILED_SIZES = 8


class OpenVinoDetector(YoloExport):
    """A YOLOv8 / YOLO11 detection model exported to ONNX, compiled by OpenVINO for the CPU.

    A model with a dynamic input is compiled once per input size it meets (a camera's frame, its
    crop; the latest `COMPILED_SIZES` kept), at batch 1, and each image of a batch runs on a
    request of its own: with dynamic
    shapes OpenVINO ran the INT8 file's convolutions wrongly (a person's score 0.83 in FP32 and
    onnxruntime, under 0.35 here), with static ones it agrees. Safe to call from several threads:
    each call takes its own requests from the size's pool.
    """

    def __init__(self, path: Path, spec: DetectorSpec) -> None:
        if path.suffix.lower() != ".onnx":
            raise ModelError(f"{path}: the openvino backend reads ONNX files (.onnx), not {path.suffix!r}")
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(path))
        except RuntimeError as exc:  # OpenVINO's front end raises RuntimeError for a bad file
            raise ModelError(f"{path} is not an ONNX model OpenVINO can read: {exc}") from exc
        if len(self._model.inputs) != 1:
            count = len(self._model.inputs)
            raise ModelError(f"{path}: expected one image input batch x 3 x H x W, found {count}")
        source = self._model.inputs[0]
        kind = source.get_element_type().get_type_name()
        if kind not in INPUT_TYPES:
            raise ModelError(f"{path}: input type {kind} is not supported (f32 or f16 only)")
        layout = Layout(
            _dims(source.get_partial_shape()),
            INPUT_TYPES[kind],
            _dims(self._model.outputs[0].get_partial_shape()),
            _metadata(self._model),
        )
        super().__init__(path, spec, layout)
        self.hint = spec.hint
        self._properties = _properties(spec)
        self._sizes: OrderedDict[tuple[int, ...], _Compiled] = OrderedDict()
        self._lock = threading.Lock()
        first = self._compiled((self.batch or 1, 3, *self.size))  # a bad setting fails here, not at a frame
        self.streams = int(first.model.get_property("NUM_STREAMS"))
        self.threads = int(first.model.get_property("INFERENCE_NUM_THREADS"))

    def describe(self) -> str:
        return (
            f"openvino {ov.__version__.split('-')[0]} {self.path.name} on CPU, {self.hint} hint, "
            f"{self.streams} stream(s), {self.threads} thread(s), {self.input_description()}"
        )

    @property
    def compiled_sizes(self) -> list[tuple[int, ...]]:
        """The input shapes compiled now, least recently used first."""
        with self._lock:
            return list(self._sizes)

    def _compiled(self, shape: tuple[int, ...]) -> _Compiled:
        """The model compiled for inputs of this shape (compiled on first use)."""
        with self._lock:
            found = self._sizes.get(shape)
            if found is not None:
                self._sizes.move_to_end(shape)
            else:
                if len(self._sizes) >= COMPILED_SIZES:
                    self._sizes.popitem(last=False)  # a call running on it keeps it until it returns
                model = self._model.clone()
                model.reshape({0: ov.PartialShape(list(shape))})
                compiled = self._core.compile_model(model, "CPU", self._properties)
                at_once = 1
                if self.hint == "throughput":
                    at_once = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
                found = self._sizes[shape] = _Compiled(compiled, at_once)
                log.debug("%s compiled for input %s", self.path.name, shape)
            return found

    def _run(self, blobs: Sequence[Blob]) -> list[npt.NDArray[Any]]:
        """Each input (each image, where the batch is dynamic) on a request of its own, as many at
        once as the hint allows (one under latency)."""
        inputs = (
            [blob[i : i + 1] for blob in blobs for i in range(len(blob))] if self.batch is None else blobs
        )
        outputs: list[npt.NDArray[Any]] = []
        while len(outputs) < len(inputs):
            wave = inputs[len(outputs) : len(outputs) + self._compiled(inputs[len(outputs)].shape).at_once]
            taken = [(compiled, compiled.request()) for compiled in (self._compiled(x.shape) for x in wave)]
            try:
                for (_, request), x in zip(taken, wave, strict=True):
                    request.start_async({0: x})  # runs without the GIL
                for _, request in taken:
                    request.wait()
                    outputs.append(request.get_output_tensor(0).data.copy())
            finally:
                for compiled, request in taken:
                    compiled.requests.put(request)
        if self.batch is not None:
            return outputs
        joined, start = [], 0
        for blob in blobs:
            joined.append(np.concatenate(outputs[start : start + len(blob)]))
            start += len(blob)
        return joined


@dataclass
class _Compiled:
    """The model compiled for one input shape, and its idle inference requests."""

    model: ov.CompiledModel
    at_once: int  # requests run together: OpenVINO's optimal number under throughput, else 1
    requests: queue.SimpleQueue[ov.InferRequest] = field(default_factory=queue.SimpleQueue)

    def request(self) -> ov.InferRequest:
        try:
            return self.requests.get_nowait()
        except queue.Empty:
            return self.model.create_infer_request()


def _properties(spec: DetectorSpec) -> dict[str, Any]:
    """The compiled model's settings for a spec: hint, precision, threads and (latency) streams."""
    streams = spec.streams
    properties: dict[str, Any] = {
        "PERFORMANCE_HINT": spec.hint.upper(),
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if spec.threads:
        properties["INFERENCE_NUM_THREADS"] = spec.threads * streams
    if spec.hint == "latency":
        properties["NUM_STREAMS"] = streams
    return properties


def _dims(shape: ov.PartialShape) -> tuple[int | None, ...]:
    """A shape with its dynamic dimensions as None."""
    return tuple(d.get_length() if d.is_static else None for d in shape)


def _metadata(model: ov.Model) -> dict[str, str]:
    """The ONNX file's metadata (ultralytics' names, stride, args), which OpenVINO keeps as rt_info."""
    if not model.has_rt_info(["framework"]):
        return {}
    keys = model.get_rt_info(["framework"]).astype(dict)
    return {str(key): model.get_rt_info(["framework", key]).astype(str) for key in keys}
