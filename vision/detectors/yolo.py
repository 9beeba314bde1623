"""What every runtime does around an ultralytics YOLOv8 / YOLO11 detection export: letterbox, decode, NMS.

An ultralytics detection export has one input (batch x 3 x H x W, float32 or float16) and one
output, either the raw head, batch x (4 + classes) x anchors (cx, cy, w, h then one score per
class, no objectness), or with `nms=True` batch x K x 6 (x1, y1, x2, y2, score, class). Images are
letterboxed like ultralytics does (aspect kept, grey 114 padding), so boxes match its own.

A runtime (onnxruntime, OpenVINO) reads the export's `Layout` and runs the model input
(`YoloExport._run`); everything else, and so every box, is the same code for both.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from capture.frames import Image
from vision.detections import Boxes, Detections, Floats, Ints
from vision.detectors.base import DetectorSpec, check_images
from vision.models import ModelError

log = logging.getLogger(__name__)

PAD_VALUE = 114  # ultralytics' letterbox grey
MAX_CANDIDATES = 30_000  # boxes handed to NMS at most, as ultralytics
MAX_DETECTIONS = 300  # boxes kept per image, as ultralytics
Blob = npt.NDArray[Any]  # a model input: batch x 3 x H x W, float32 or float16


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the model input: scaled by `scale`, then shifted by the padding."""

    scale: float
    left: int
    top: int


@dataclass(frozen=True, slots=True)
class Layout:
    """What a runtime reads of an export: shapes (None for a dynamic dimension) and metadata."""

    input_shape: tuple[int | None, ...]  # batch x 3 x H x W
    input_type: type[np.floating[Any]]  # np.float32 or np.float16
    output_shape: tuple[int | None, ...]
    metadata: Mapping[str, str]  # ultralytics' ONNX metadata: names, stride, args, end2end


def letterbox(image: Image, out: Image, *, enlarge: bool = True) -> Letterbox:
    """Fit `image` into `out` (H x W x 3, filled here): keep the aspect, centre it, pad with grey;
    an image smaller than `out` is enlarged only when `enlarge`."""
    height, width = image.shape[:2]
    out_h, out_w = out.shape[:2]
    scale = min(out_h / height, out_w / width)
    if not enlarge:
        scale = min(scale, 1.0)
    new_w, new_h = round(width * scale), round(height * scale)
    # Same rounding as ultralytics' LetterBox, so boxes agree with its predictions to the pixel.
    left, top = round((out_w - new_w) / 2 - 0.1), round((out_h - new_h) / 2 - 0.1)
    resized = image if (new_w, new_h) == (width, height) else cv2.resize(image, (new_w, new_h))
    out[...] = PAD_VALUE
    out[top : top + new_h, left : left + new_w] = resized
    return Letterbox(scale, left, top)


def non_max_suppression(
    xyxy: Boxes, scores: Floats, class_ids: Ints, iou: float, *, use_cv2: bool = True
) -> Ints:
    """Indices of the boxes kept by per-class greedy NMS, best score first, at most MAX_DETECTIONS.

    A box is dropped when it overlaps a better box of its class by more than `iou`. OpenCV's
    `NMSBoxesBatched` (C++) does the work when `use_cv2` and this OpenCV has it; numpy otherwise.
    """
    if len(xyxy) == 0:
        return np.empty(0, np.int64)
    if use_cv2 and hasattr(cv2.dnn, "NMSBoxesBatched"):
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        # Lists, as OpenCV's typing asks: converting them is no slower than passing arrays.
        kept = cv2.dnn.NMSBoxesBatched(
            xywh.tolist(), scores.tolist(), class_ids.tolist(), -1.0, iou, 1.0, MAX_DETECTIONS
        )
        return np.asarray(kept, np.int64).reshape(-1)
    # Shift each class to its own region so that boxes of different classes never overlap.
    boxes = xyxy + (class_ids.astype(np.float32) * (float(xyxy.max()) + 1))[:, None]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-scores, kind="stable")
    kept_list: list[int] = []
    while len(order) and len(kept_list) < MAX_DETECTIONS:
        best, rest = order[0], order[1:]
        kept_list.append(int(best))
        lt = np.maximum(boxes[best, :2], boxes[rest, :2])
        rb = np.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(kept_list, np.int64)


def parse_names(text: str | None) -> dict[int, str]:
    """Class names from ultralytics' ONNX metadata (`"{0: 'person', 1: 'bicycle'}"`); {} if none."""
    if not text:
        return {}
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        log.warning("ONNX metadata 'names' is not a Python literal, using class numbers: %.80s", text)
        return {}
    if isinstance(value, dict):
        return {int(k): str(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return {i: str(v) for i, v in enumerate(value)}
    return {}


def parse_literal(text: str | None) -> dict[str, Any]:
    """A dict written as a Python literal in ONNX metadata (ultralytics' `args`); {} otherwise."""
    try:
        value = ast.literal_eval(text) if text else None
    except (ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}


class YoloExport:
    """A YOLOv8 / YOLO11 detection export on some runtime; a subclass runs the model (`_run`).

    A model with a fixed batch size runs images in chunks of that size; one with a dynamic batch
    runs all images of a call at once. An export with `nms=True` has its NMS (IoU and maximum
    boxes) baked in at export: `iou` does not apply to it.
    """

    def __init__(self, path: Path, spec: DetectorSpec, layout: Layout) -> None:
        self.path, self.device, self.confidence, self.iou = path, spec.device, spec.confidence, spec.iou
        shape = layout.input_shape
        if len(shape) != 4 or shape[1] not in (3, None):
            raise ModelError(f"{path}: expected one image input batch x 3 x H x W, found {list(shape)}")
        self._dtype = layout.input_type
        batch, _, height, width = shape
        self.batch: int | None = batch  # None: dynamic
        meta = layout.metadata
        self.stride = int(meta.get("stride") or 32)
        self.fixed_size = height is not None and width is not None
        side = -(-spec.imgsz // self.stride) * self.stride  # the input must be a multiple of the stride
        self.size: tuple[int, int] = (height, width) if height and width else (side, side)
        if self.size != (spec.imgsz, spec.imgsz):
            log.info("%s: input %dx%d, not imgsz %d", path.name, self.size[1], self.size[0], spec.imgsz)
        self.names = parse_names(meta.get("names"))
        self.end_to_end = meta.get("end2end") == "True" or bool(parse_literal(meta.get("args")).get("nms"))
        out = layout.output_shape
        if not self.end_to_end and not self.names and len(out) == 3 and out[1] is not None:
            self.names = {i: str(i) for i in range(max(out[1] - 4, 0))}
        self._check_output(out)

    def _run(self, blobs: Sequence[Blob]) -> list[npt.NDArray[Any]]:
        """The model's output for each input, in order (a runtime may run them at once)."""
        raise NotImplementedError

    def input_description(self) -> str:
        """The model input, for `describe`: batch x 3 x H x W and its type."""
        height, width = self.size
        batch = "dynamic" if self.batch is None else str(self.batch)
        size = f"{height} x {width}" if self.fixed_size else f"dynamic (imgsz {height})"
        return f"input batch {batch} x 3 x {size} {np.dtype(self._dtype).name}, {len(self.names)} classes"

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        """Objects in each image, in that image's pixels; see `Detector.detect`.

        A model with a dynamic input size gets each image letterboxed to the smallest multiple of
        the stride that holds it (640 x 384 for 16:9), like ultralytics' rectangular inference,
        and an image already within `imgsz` runs at its own size, never enlarged: a crop costs
        its own pixels (see `vision.region`). Images of one shape share a run, so an image's
        result does not depend on its batch.
        """
        check_images(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(self.input_size(image.shape[0], image.shape[1]), []).append(i)
        chunks: list[list[int]] = []
        blobs: list[Blob] = []
        fits: list[list[Letterbox]] = []
        for size, members in groups.items():
            step = self.batch or len(members)
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                blob, fit = self._preprocess([images[i] for i in chunk], size, self.batch or len(chunk))
                chunks.append(chunk)
                blobs.append(blob)
                fits.append(fit)
        results: list[Detections] = [Detections.empty()] * len(images)
        for chunk, output, fit in zip(chunks, self._run(blobs), fits, strict=True):
            found = self._postprocess(np.asarray(output, np.float32), [images[i] for i in chunk], fit)
            for i, detections in zip(chunk, found, strict=True):
                results[i] = detections
        return results

    def blob(self, image: Image) -> Blob:
        """The model input (1 x 3 x H x W) for one image, letterboxed as `detect` does."""
        check_images([image])
        size = self.input_size(image.shape[0], image.shape[1])
        return self._preprocess([image], size, 1)[0]

    def input_size(self, height: int, width: int) -> tuple[int, int]:
        """Model input (height, width) for an image of this size: the fixed one, or the rectangle."""
        if self.fixed_size:
            return self.size
        side = self.size[0]
        scale = min(side / height, side / width, 1.0)
        new_h, new_w = round(height * scale), round(width * scale)
        return new_h + (side - new_h) % self.stride, new_w + (side - new_w) % self.stride

    def _preprocess(
        self, images: Sequence[Image], size: tuple[int, int], batch: int
    ) -> tuple[Blob, list[Letterbox]]:
        """Letterboxed, RGB, scaled to 0-1, NCHW in the model's input type; padded to `batch` images."""
        height, width = size
        canvas = np.empty((batch, height, width, 3), np.uint8)
        fits = [letterbox(image, canvas[i], enlarge=self.fixed_size) for i, image in enumerate(images)]
        canvas[len(images) :] = PAD_VALUE  # the images that only fill a fixed batch
        blob = np.empty((batch, 3, height, width), self._dtype)
        np.multiply(canvas[..., ::-1].transpose(0, 3, 1, 2), np.float32(1 / 255), out=blob, casting="unsafe")
        return blob, fits

    def _postprocess(
        self, output: npt.NDArray[np.float32], images: Sequence[Image], fits: list[Letterbox]
    ) -> list[Detections]:
        self._check_output(output.shape)
        results = []
        for prediction, image, fit in zip(output, images, fits, strict=False):  # output may be padded
            if self.end_to_end:
                rows = prediction[prediction[:, 4] > self.confidence]
                xyxy, scores, ids = rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
            else:
                xyxy, scores, ids = self._decode_head(prediction)
            xyxy = (xyxy - np.array([fit.left, fit.top, fit.left, fit.top], np.float32)) / fit.scale
            height, width = image.shape[:2]
            np.clip(xyxy, 0, np.array([width, height, width, height], np.float32), out=xyxy)
            labels = [self.names.get(int(i), str(int(i))) for i in ids]
            results.append(Detections.build(xyxy, scores, ids, labels))
        return results

    def _decode_head(self, prediction: npt.NDArray[np.float32]) -> tuple[Boxes, Floats, Ints]:
        """Boxes (letterboxed pixels), scores and classes of one image's raw head, after NMS."""
        class_scores = prediction[4:]  # classes x anchors
        scores = class_scores.max(axis=0)
        keep = np.flatnonzero(scores > self.confidence)
        if len(keep) > MAX_CANDIDATES:
            keep = keep[np.argsort(-scores[keep])[:MAX_CANDIDATES]]
        centre, size = prediction[:2, keep].T, prediction[2:4, keep].T
        xyxy = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        ids = class_scores[:, keep].argmax(axis=0).astype(np.int64)
        kept = non_max_suppression(xyxy, scores[keep], ids, self.iou)
        return xyxy[kept], scores[keep][kept], ids[kept]

    def _check_output(self, shape: Sequence[int | None]) -> None:
        """Refuse an output layout this decoder cannot read; dynamic (None) dimensions pass."""
        if self.end_to_end:
            ok = len(shape) == 3 and shape[2] in (6, None)
            layout = "batch x K x 6 (an export with nms=True)"
        else:
            classes = len(self.names)
            channels = shape[1] if len(shape) == 3 else 0
            expected = 4 + classes if classes else None
            ok = len(shape) == 3 and (
                channels is None or (channels == expected if expected else channels > 4)
            )
            layout = f"batch x (4 + {classes or 'N'} classes) x anchors, a YOLOv8/YOLO11 detection head"
        if not ok:
            raise ModelError(f"{self.path}: cannot decode output shape {tuple(shape)}; expected {layout}")
