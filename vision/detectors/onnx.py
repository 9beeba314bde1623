"""YOLOv8 / YOLO11 ONNX exports on onnxruntime, without torch.

An ultralytics detection export has one input (batch x 3 x H x W, float32 or float16) and one
output, either the raw head, batch x (4 + classes) x anchors (cx, cy, w, h then one score per
class, no objectness), or with `nms=True` batch x K x 6 (x1, y1, x2, y2, score, class). Images are
letterboxed like ultralytics does (aspect kept, grey 114 padding), so boxes match its own.
"""

from __future__ import annotations

import ast
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from capture.frames import Image
from vision.detections import Boxes, Detections, Floats, Ints
from vision.detectors.base import DetectorSpec, check_images
from vision.models import ModelError, data_dir

log = logging.getLogger(__name__)

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
PAD_VALUE = 114  # ultralytics' letterbox grey
MAX_CANDIDATES = 30_000  # boxes handed to NMS at most, as ultralytics
MAX_DETECTIONS = 300  # boxes kept per image, as ultralytics
INPUT_TYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was fitted into the model input: scaled by `scale`, then shifted by the padding."""

    scale: float
    left: int
    top: int


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


def choose_providers(
    device: str, requested: Sequence[str] | None, available: Sequence[str], *, half: bool = False
) -> list[str | tuple[str, dict[str, Any]]]:
    """onnxruntime execution providers for `device`, best first, each with its options.

    cpu: CPU only. cuda[:N]: TensorRT, CUDA, then CPU, keeping those this onnxruntime has; a GPU
    asked for without a GPU provider is logged and runs on CPU. Explicit `requested` providers
    must all be available.
    """
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ModelError(
                f"onnxruntime execution provider(s) {', '.join(missing)} not available here "
                f"(available: {', '.join(available)})"
            )
        names: Sequence[str] = requested
    elif device == "cpu":
        names = ["CPUExecutionProvider"]
    else:
        names = [p for p in GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]
        if len(names) == 1:
            log.warning(
                "detector device %s asked for, but this onnxruntime has no GPU provider (has %s; "
                "install onnxruntime-gpu): running on CPU",
                device,
                ", ".join(available),
            )
    gpu = int(device.partition(":")[2] or 0)
    chosen: list[str | tuple[str, dict[str, Any]]] = []
    for name in names:
        if name == "CUDAExecutionProvider":
            chosen.append((name, {"device_id": gpu}))
        elif name == "TensorrtExecutionProvider":
            cache = data_dir() / "tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            # Building an engine takes minutes: keep it between runs.
            options = {"device_id": gpu, "trt_fp16_enable": half, "trt_engine_cache_enable": True}
            chosen.append((name, {**options, "trt_engine_cache_path": str(cache)}))
        else:
            chosen.append(name)
    return chosen


class OnnxDetector:
    """A YOLOv8 / YOLO11 detection model exported to ONNX, run by onnxruntime.

    A model with a fixed batch size runs images in chunks of that size; one with a dynamic batch
    runs all images of a call at once. `half` only enables FP16 in TensorRT: on CPU and CUDA the
    model runs in the type it was exported with. An export with `nms=True` has its NMS (IoU and
    maximum boxes) baked in at export: `iou` does not apply to it.
    """

    def __init__(self, path: Path, spec: DetectorSpec) -> None:
        device, imgsz = spec.device, spec.imgsz
        self.path, self.device, self.confidence, self.iou = path, device, spec.confidence, spec.iou
        self._session = self._open(path, device, spec.providers, spec.threads, spec.half)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, "3"):
            shapes = [i.shape for i in inputs]
            raise ModelError(f"{path}: expected one image input batch x 3 x H x W, found {shapes}")
        source = inputs[0]
        if source.type not in INPUT_TYPES:
            raise ModelError(f"{path}: input type {source.type} is not supported (float or float16 only)")
        self._input, self._output = source.name, outputs[0].name
        self._dtype = INPUT_TYPES[source.type]
        batch, _, height, width = source.shape
        self.batch: int | None = batch if isinstance(batch, int) else None  # None: dynamic
        meta = self._session.get_modelmeta().custom_metadata_map
        self.stride = int(meta.get("stride") or 32)
        self.fixed_size = isinstance(height, int) and isinstance(width, int)
        side = -(-imgsz // self.stride) * self.stride  # the input must be a multiple of the stride
        self.size: tuple[int, int] = (height, width) if self.fixed_size else (side, side)
        if self.size != (imgsz, imgsz):
            log.info("%s: input %dx%d, not imgsz %d", path.name, self.size[1], self.size[0], imgsz)
        self.names = parse_names(meta.get("names"))
        args = parse_literal(meta.get("args"))
        self.end_to_end = meta.get("end2end") == "True" or bool(args.get("nms"))
        shape = outputs[0].shape
        if not self.end_to_end and not self.names and len(shape) == 3 and isinstance(shape[1], int):
            self.names = {i: str(i) for i in range(max(shape[1] - 4, 0))}
        self._check_output(shape)

    @staticmethod
    def _open(
        path: Path, device: str, providers: Sequence[str] | None, threads: int | None, half: bool
    ) -> ort.InferenceSession:
        options = ort.SessionOptions()
        # Like ultralytics for torch: one core left to the camera decoders, at most 8 threads.
        options.intra_op_num_threads = threads or min(8, max(1, (os.cpu_count() or 1) - 1))
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only; the fallbacks are logged here
        chosen = choose_providers(device, providers, ort.get_available_providers(), half=half)
        try:
            session = ort.InferenceSession(str(path), options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise ModelError(f"{path} is not an ONNX model onnxruntime can load: {exc}") from exc
        wanted = chosen[0] if isinstance(chosen[0], str) else chosen[0][0]
        if session.get_providers()[0] != wanted:
            log.warning("%s: %s did not start, running on %s", path.name, wanted, session.get_providers()[0])
        return session

    def describe(self) -> str:
        height, width = self.size
        batch = "dynamic" if self.batch is None else str(self.batch)
        size = f"{height} x {width}" if self.fixed_size else f"dynamic (imgsz {height})"
        provider = self._session.get_providers()[0].removesuffix("ExecutionProvider")
        return (
            f"onnxruntime {self.path.name} on {provider} ({self.device}), input batch {batch} x 3 x "
            f"{size} {np.dtype(self._dtype).name}, {len(self.names)} classes"
        )

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
        results: list[Detections] = [Detections.empty()] * len(images)
        for size, members in groups.items():
            step = self.batch or len(members)
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                batch = [images[i] for i in chunk]
                blob, fits = self._preprocess(batch, size, self.batch or len(chunk))
                output = self._session.run([self._output], {self._input: blob})[0]
                found = self._postprocess(np.asarray(output, np.float32), batch, fits)
                for i, detections in zip(chunk, found, strict=True):
                    results[i] = detections
        return results

    @property
    def input_name(self) -> str:
        return str(self._input)

    def blob(self, image: Image) -> npt.NDArray[Any]:
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
    ) -> tuple[npt.NDArray[Any], list[Letterbox]]:
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

    def _check_output(self, shape: Sequence[int | str | None]) -> None:
        """Refuse an output layout this decoder cannot read; dynamic (non-int) dimensions pass."""
        if self.end_to_end:
            ok = len(shape) == 3 and (shape[2] == 6 or not isinstance(shape[2], int))
            layout = "batch x K x 6 (an export with nms=True)"
        else:
            classes = len(self.names)
            channels = shape[1] if len(shape) == 3 else 0
            expected = 4 + classes if classes else None
            ok = len(shape) == 3 and (
                not isinstance(channels, int) or (channels == expected if expected else channels > 4)
            )
            layout = f"batch x (4 + {classes or 'N'} classes) x anchors, a YOLOv8/YOLO11 detection head"
        if not ok:
            raise ModelError(f"{self.path}: cannot decode output shape {tuple(shape)}; expected {layout}")


def parse_literal(text: str | None) -> dict[str, Any]:
    """A dict written as a Python literal in ONNX metadata (ultralytics' `args`); {} otherwise."""
    try:
        value = ast.literal_eval(text) if text else None
    except (ValueError, SyntaxError):
        return {}
    return value if isinstance(value, dict) else {}
