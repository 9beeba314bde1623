"""What the camera wall's frames cost the analysis (issue 13).

    .venv/bin/python -m bench.wall_frames [--rounds 5] [--fps 2]

A scene clip of `offsite.scenes` (a queue building with the clerk at the post, 720p H.264, and the
same frames scaled to 1080p) is decoded once, then run through a camera's whole analysis
(`CameraAnalyser.process`: motion gate, cut, detection, tracker, a presence rule on the waiting
zone) with the wall's frames off (`vision.frame_every: 0`, reference), at the default (every 5 s
of the camera's clock) and on every frame (the cost of one wall picture, paid each time), rounds
interleaved so that other load on the box falls on all alike. The sink keeps the JPEGs in memory
(no database). Printed: CPU ms of this process per analysed frame (median of the rounds) and each
against the reference, and the wall picture's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.motion import deployment
from bench.streams import MemorySink
from capture.frames import Frame, Image
from capture.worker import CameraWorker
from hub.store.camera_frames import CameraFrame
from offsite import scenes
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.replay import sampled_frames

MODEL = "pkg:fall_detection/models/best_fp16.onnx"
SETTINGS = {"off (ref.)": 0.0, "every 5 s (default)": 5.0, "every frame": 0.001}


class WallSink(MemorySink):
    """`MemorySink` that also takes the wall's frames, keeping the last one's size."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def frame(self, shot: CameraFrame) -> None:
        self.sizes.append(len(shot.jpeg))


def run(detector: Detector, frames: list[Frame], every: float) -> tuple[float, list[int]]:
    """CPU seconds per analysed frame through a fresh analyser, and the JPEG sizes it handed over."""
    setup = deployment(MODEL, {})
    setup = setup.model_copy(update={"vision": setup.vision.model_copy(update={"frame_every": every})})
    camera = setup.cameras[0]

    def one(frame: Frame) -> Detections:
        return detector.detect([frame.image])[0]

    sink = WallSink()
    analyser = CameraAnalyser(setup, camera, CameraWorker(camera), one, sink)
    started = time.process_time()
    for frame in frames:
        analyser.process(frame)
    return (time.process_time() - started) / len(frames), sink.sizes


def _at_1080p(frame: Frame) -> Frame:
    image: Image = np.asarray(cv2.resize(frame.image, (1920, 1080)), np.uint8)
    return replace(frame, image=image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--fps", type=float, default=2.0, help="analysed frames per second of the clip")
    args = parser.parse_args()
    console = Console()
    console.print(f"{os.cpu_count()} cores, load average at the start: {os.getloadavg()}")
    detector = load_detector(DetectorSpec(MODEL, threads=1))
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "queue.mp4"
        scenes.write_clip(scenes.queue_builds(max_people=4, every=1.5), path, fps=args.fps)
        hd = list(sampled_frames(path, "cam", args.fps, datetime.now(UTC)))
    clips = {
        "720p": hd,
        "1080p": [_at_1080p(f) for f in hd],
    }
    cpu: dict[tuple[str, str], list[float]] = {}
    sizes: dict[tuple[str, str], list[int]] = {}
    run(detector, hd[:3], 0.001)  # warm up: the model, the font
    for _ in range(args.rounds):
        for clip, frames in clips.items():
            for name, every in SETTINGS.items():
                seconds, kept = run(detector, frames, every)
                cpu.setdefault((clip, name), []).append(seconds)
                sizes[clip, name] = kept
    table = Table(title=f"CPU per analysed frame, {args.fps:g} fps, {args.rounds} interleaved rounds")
    for column in (
        "clip",
        "wall frames",
        "frames",
        "handed",
        "CPU ms/frame p50 (min-max)",
        "vs off",
        "JPEG kB",
    ):
        table.add_column(column, justify="left" if column in ("clip", "wall frames") else "right")
    for clip, frames in clips.items():
        reference = statistics.median(cpu[clip, "off (ref.)"])
        for name in SETTINGS:
            values = [v * 1000 for v in cpu[clip, name]]
            median = statistics.median(values)
            kept = sizes[clip, name]
            table.add_row(
                clip,
                name,
                str(len(frames)),
                str(len(kept)),
                f"{median:.1f} ({min(values):.1f}-{max(values):.1f})",
                f"{median / 1000 / reference:.3f}",
                f"{statistics.mean(kept) / 1000:.0f}" if kept else "-",
            )
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
