"""Object detectors behind one protocol: onnxruntime (no torch) or ultralytics (torch, TensorRT, OpenVINO).

    detector = load_detector(DetectorSpec("pkg:fall_detection/models/best_fp16.onnx"))
    detections = detector.detect([image])[0]

A backend's module is imported only when a spec asks for it, so the onnxruntime path never
imports torch, except to export .pt weights it is given to ONNX once (`vision.export`). Each
backend reads its settings from the spec: none has defaults of its own.
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
    if spec.backend == "onnxruntime":
        from vision.detectors.onnx import OnnxDetector

        if path.suffix.lower() == ".pt":  # exported once to a dynamic input, kept under the data folder
            from vision.export import rectangular_onnx

            path = rectangular_onnx(path)
        return OnnxDetector(path, spec)
    from vision.detectors.ultralytics import UltralyticsDetector

    return UltralyticsDetector(path, spec)
