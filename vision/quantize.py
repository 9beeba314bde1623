"""INT8 models through onnxruntime's static quantization, and how well they agree with FP32.

    made = quantize(Path("person.onnx"), Path("person-int8.onnx"), calibration_pictures)
    agreement = compare(Path("person.onnx"), made, held_out_pictures)   # F1 at IoU 0.5

Weights per channel and activations are stored as 8-bit integers (QDQ), calibrated on pictures of
the deployment's own cameras or scenes. The detection head (the model's last module: box
distribution, class scores, decoding) stays in float: quantized, it raised background scores
above the threshold (F1 0.84 against FP32 on the scenario scenes); kept in float, the model
agreed with FP32 (F1 1.00) at 0.56 of its time on this 2-core box (see BENCHMARKS.md).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from capture.frames import Image
from vision.detections import Detections, box_iou
from vision.detectors.base import DetectorSpec
from vision.models import ModelError

_MODULE = re.compile(r"^/model\.(\d+)/")


@dataclass(frozen=True, slots=True)
class Agreement:
    """Detections of two models on the same pictures, paired at IoU 0.5 or more."""

    matched: int
    only_reference: int
    only_other: int

    @property
    def f1(self) -> float:
        total = 2 * self.matched + self.only_reference + self.only_other
        return 2 * self.matched / total if total else 1.0


def head_nodes(names: Sequence[str]) -> list[str]:
    """The nodes of an ultralytics export's last module (`/model.N/...`, N largest): its head."""
    modules = [int(m.group(1)) for name in names if (m := _MODULE.match(name))]
    if not modules:
        return []
    head = f"/model.{max(modules)}/"
    return [name for name in names if name.startswith(head)]


class _Pictures:
    """onnxruntime's calibration reader over the model inputs of some pictures."""

    def __init__(self, name: str, blobs: list[npt.NDArray[np.float32]]) -> None:
        self._items: Iterator[dict[str, Any]] = iter({name: blob} for blob in blobs)

    def get_next(self) -> dict[str, Any] | None:
        return next(self._items, None)


def quantize(model: Path, out: Path, pictures: Sequence[Image], confidence: float = 0.25) -> Path:
    """`model` (a float ONNX detection export) as INT8 at `out`, calibrated on `pictures`.

    Raises `ModelError` with no pictures, or when onnxruntime cannot quantize the model.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vision.detectors.onnx import OnnxDetector

    if not pictures:
        raise ModelError(f"{model}: quantizing needs calibration pictures, got none")
    detector = OnnxDetector(model, DetectorSpec(str(model), confidence=confidence))
    blobs = [detector.blob(picture) for picture in pictures]
    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        try:
            # Symbolic shape inference fails on dynamic inputs; onnx's own is enough for QDQ.
            quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
            import onnx

            names = [node.name for node in onnx.load(str(prepared)).graph.node]
            quantize_static(
                str(prepared),
                str(out),
                _Pictures(detector.input_name, blobs),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=head_nodes(names),
            )
        except Exception as exc:  # onnxruntime's quantization raises many types
            raise ModelError(f"{model}: onnxruntime cannot quantize it: {type(exc).__name__}: {exc}") from exc
    return out


def agreement(reference: Sequence[Detections], other: Sequence[Detections], iou: float = 0.5) -> Agreement:
    """How the detections of two models on the same pictures pair up, best overlaps first."""
    matched = only_reference = only_other = 0
    for a, b in zip(reference, other, strict=True):
        pairs = 0
        overlaps = box_iou(a.xyxy, b.xyxy) if len(a) and len(b) else np.zeros((0, 0), np.float32)
        while overlaps.size and overlaps.max() >= iou:
            i, j = np.unravel_index(overlaps.argmax(), overlaps.shape)
            overlaps[i, :], overlaps[:, j] = 0, 0
            pairs += 1
        matched += pairs
        only_reference += len(a) - pairs
        only_other += len(b) - pairs
    return Agreement(matched, only_reference, only_other)
