"""Any model ultralytics loads (.pt, .onnx, .engine, .torchscript, OpenVINO folders) behind `Detector`.

Imports torch: only `load_detector` with backend "ultralytics" brings this module in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from capture.frames import Image
from vision.detections import Detections
from vision.detectors.base import DetectorSpec, check_images
from vision.models import ModelError, prepare_ultralytics

log = logging.getLogger(__name__)


class UltralyticsDetector:
    """`ultralytics.YOLO(path, task="detect")`, predicting on lists of BGR arrays.

    One prediction at a time: ultralytics' predictor keeps state between calls, so calls from
    several threads are serialised (share it through `vision.batcher.DetectorWorker`).
    """

    def __init__(self, path: Path, spec: DetectorSpec) -> None:
        device, imgsz, half = spec.device, spec.imgsz, spec.half
        prepare_ultralytics()  # before the first import: offline, settings under the data folder
        from ultralytics.models import YOLO
        from ultralytics.utils import DEFAULT_CFG_DICT

        if device != "cpu":
            device = _check_gpu(device, spec.required)
        self.path, self.device, self.half = path, device, half
        self._options: dict[str, Any] = {
            "imgsz": imgsz,
            "conf": spec.confidence,
            "iou": spec.iou,
            "device": device,
        }
        if half:
            # ultralytics 8.4 replaced `half` by `quantize` (and warns about `half`); 8.3 has only `half`.
            self._options.update({"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True})
        try:
            self._model = YOLO(str(path), task="detect")
            self.names: dict[int, str] = {int(k): str(v) for k, v in self._model.names.items()}
        except Exception as exc:  # ultralytics and torch raise many types for a bad file
            raise ModelError(f"{path}: ultralytics cannot load this model: {exc}") from exc
        self._lock = threading.Lock()

    def describe(self) -> str:
        return (
            f"ultralytics {self.path.name} on {self.device}, imgsz {self._options['imgsz']}, "
            f"{'FP16' if self.half else 'FP32'}, {len(self.names)} classes"
        )

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Objects in each image, in that image's pixels; see `Detector.detect`.

        Images of one shape are predicted together: ultralytics letterboxes a batch of one shape
        to a tight rectangle but a mixed batch to a square, so grouping keeps an image's result
        independent of the other images in its call.
        """
        check_images(images)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(image.shape, []).append(i)
        results: list[Detections] = [Detections.empty()] * len(images)
        with self._lock:
            for members in groups.values():
                found = self._model.predict([images[i] for i in members], verbose=False, **self._options)
                for i, result in zip(members, found, strict=True):
                    results[i] = Detections.from_ultralytics(result, self.names)
        return results


def _check_gpu(device: str, required: bool) -> str:
    """The device to run on: `device`, or the CPU (logged) when torch does not see that GPU; a
    `required` GPU torch does not see is refused now, rather than at the first frame."""
    import torch

    index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
    if index < count:
        return device
    if required:
        raise ModelError(f"detector device {device!r} is required, but torch sees {count} CUDA GPU(s)")
    log.warning("detector device %s asked for, but torch sees %d CUDA GPU(s): running on cpu", device, count)
    return "cpu"
