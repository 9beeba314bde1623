"""Object detectors behind one protocol: onnxruntime or OpenVINO (no torch), or ultralytics (torch).

    detector = load_detector(DetectorSpec("pkg:fall_detection/models/best_fp16.onnx"))
    detections = detector.detect([image])[0]

A backend's module is imported only when a spec asks for it, so the onnxruntime and OpenVINO
paths never import torch, except to export .pt weights they are given to ONNX once
(`vision.export`). Each backend reads its settings from the spec: none has defaults of its own.
"""

from __future__ import annotations

from vision.detectors.base import Backend, Detector, DetectorSpec, check_images
from vision.models import ModelError, resolve_model

__all__ = ["Backend", "Detector", "DetectorSpec", "ModelError", "check_images", "load_detector"]


def load_detector(spec: DetectorSpec) -> Detector:
    """The detector `spec` describes, its model loaded and ready.

    Raises `ModelError` when the model cannot be found or loaded.
    """
    path = resolve_model(spec.model)
    if spec.backend == "ultralytics":
        from vision.detectors.ultralytics import UltralyticsDetector

        return UltralyticsDetector(path, spec)
    if path.suffix.lower() == ".pt":  # exported once to a dynamic input, kept under the data folder
        from vision.export import rectangular_onnx

        path = rectangular_onnx(path)
    if spec.backend == "openvino":
        try:
            from vision.detectors.openvino import OpenVinoDetector
        except ImportError as exc:
            raise ModelError(
                f"model {spec.model!r}: the openvino backend needs OpenVINO "
                f"(pip install 'offsite[openvino]'): {exc}"
            ) from exc
        return OpenVinoDetector(path, spec)
    from vision.detectors.onnx import OnnxDetector

    return OnnxDetector(path, spec)
