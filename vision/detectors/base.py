"""What every detector backend offers, and the settings one is built from."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from capture.frames import Image
from hub.config.vision import DetectorModel, runtime_conflict
from vision.detections import Detections

Backend = Literal["onnxruntime", "openvino", "ultralytics"]
BACKENDS: tuple[Backend, ...] = ("onnxruntime", "openvino", "ultralytics")
Provider = Literal["tensorrt", "cuda"]
Hint = Literal["latency", "throughput"]
_DEVICE = re.compile(r"cpu|cuda(:\d+)?")
_SETTINGS = ("backend", "device", "provider", "required", "half", "imgsz", "iou", "hint")
_DEFAULTS: dict[str, Any] = {name: DetectorModel.model_fields[name].default for name in _SETTINGS}


class Detector(Protocol):
    """A loaded object detector.

    `detect` returns one `Detections` per image, boxes in that image's own pixels, `class_id` the
    model's class and `labels` the model's class names; mapping them to domain labels
    (`person`, `car`) is the camera's class map's job, not the detector's.
    """

    names: dict[int, str]  # model class id -> model class name

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Objects in each image (H x W x 3 uint8 BGR), in order."""
        ...

    def describe(self) -> str:
        """One line for logs: backend, model file, device, input size."""
        ...


@dataclass(frozen=True)
class DetectorSpec:
    """How to load a detector; `load_detector(spec)` builds it."""

    model: str  # a path or `pkg:MODULE/relative/path`, see `vision.models.resolve_model`
    # The settings a deployment can give take their defaults from its schema (DetectorModel).
    backend: Backend = _DEFAULTS["backend"]
    device: str = _DEFAULTS["device"]  # cpu, cuda or cuda:N
    provider: Provider | None = _DEFAULTS["provider"]  # onnxruntime on cuda: None tries TensorRT, then CUDA
    required: bool = _DEFAULTS["required"]  # refuse to load rather than fall back to CPU
    half: bool = _DEFAULTS["half"]  # FP16 on GPU (ultralytics; TensorRT provider); an ONNX file keeps its own
    imgsz: int = _DEFAULTS["imgsz"]  # square input side, a multiple of 32; a fixed-size ONNX model's wins
    iou: float = _DEFAULTS["iou"]  # boxes of one class overlapping more than this are merged
    confidence: float = 0.25  # minimum score kept
    threads: int | None = None  # CPU threads of one detection; None: cores - 1 (1 to 8), as ultralytics
    hint: Hint = _DEFAULTS["hint"]  # OpenVINO's PERFORMANCE_HINT
    streams: int = 1  # OpenVINO: detections at once (the detector threads sharing the model), latency hint

    @classmethod
    def of(cls, model: DetectorModel) -> DetectorSpec:
        """The spec of a deployment's model: its file and every setting it gives; its threads,
        unless given, are the cores shared out among its workers (`share_cores`), and its OpenVINO
        streams one per worker sharing it (one in each process of its own)."""
        workers, threads = share_cores(model.workers, model.threads)
        streams = 1 if model.processes else workers
        return cls(
            model=model.path, threads=threads, streams=streams, **model.model_dump(include=set(_SETTINGS))
        )

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"detector backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if not _DEVICE.fullmatch(self.device):
            raise ValueError(f"detector device must be 'cpu', 'cuda' or 'cuda:N', not {self.device!r}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f"detector imgsz must be a positive multiple of 32, not {self.imgsz}")
        for name in ("confidence", "iou"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"detector {name} must be between 0 and 1, not {value}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"detector threads must be at least 1, not {self.threads}")
        if self.hint not in ("latency", "throughput"):
            raise ValueError(f"detector hint must be 'latency' or 'throughput', not {self.hint!r}")
        if self.streams < 1:
            raise ValueError(f"detector streams must be at least 1, not {self.streams}")
        problem = runtime_conflict(self.backend, self.device, self.provider, self.hint)
        if problem:
            raise ValueError(f"detector {problem}")


def check_images(images: Sequence[Image]) -> None:
    """Refuse anything but non-empty H x W x 3 uint8 arrays, saying which image is wrong."""
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray):
            raise ValueError(f"image {i} must be a numpy array, not {type(image).__name__}")
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape:
            raise ValueError(f"image {i} must be H x W x 3 uint8 (BGR), not {image.shape} {image.dtype}")


def usable_cores() -> int:
    """The cores this process may run on: a container's or `taskset`'s share, not the host's."""
    return len(os.sched_getaffinity(0)) or 1


def share_cores(workers: int | None, threads: int | None, cores: int | None = None) -> tuple[int, int]:
    """(detector workers, onnxruntime threads in each) for a model's settings: what is not given
    fills the box's `cores` (default: those this process may use), one worker per core by default.

    One thread per worker keeps each detection on one core: two workers on two cores sustained
    more frames than one worker on two threads, whose threads wait for each other whenever the
    other core is busy with decoding (see BENCHMARKS.md, Detector workers).
    """
    cores = cores or usable_cores()
    workers = workers or max(1, cores // (threads or 1))
    return workers, threads or max(1, cores // workers)
