"""CPU per analysed frame when only the moving parts of a camera's region are detected (issue 15).

    .venv/bin/python -m bench.motion [--rounds 3] [--fps 2]

Three scene clips of `offsite.scenes` (720p H.264: one walker crossing the hall, a queue building
with the clerk at the post, a person who walks in and stands still) are decoded once, then run
through a camera's whole analysis (`CameraAnalyser.process`: motion gate, cut, detection, tracker,
a presence rule on the waiting zone) in three ways, interleaved round by round so that other load
on the box falls on all alike:

- the whole frame (`crop_margin: null`, reference),
- the region around the waiting zone (`crop_margin: 0.2`, `motion.crops: false`),
- the moving parts of that region only (`motion.crops: true`, the default).

The motion gate is on in all three (frames where nothing moved cost no detection in any). Printed:
CPU seconds of this process per analysed frame (median of the rounds), detector input pixels per
analysed frame, and each against the whole frame. The detector is the demo's person model
(`best.pt`) exported with a dynamic input, on one onnxruntime thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from bench.streams import MemorySink
from capture.frames import Frame
from capture.worker import CameraWorker
from hub.config import Deployment, parse_config
from offsite import scenes
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.export import rectangular_onnx
from vision.models import resolve_model
from vision.replay import sampled_frames

SCENES = {
    "one walker": scenes.walks_across("right_to_left", start_at=0.5),
    "queue and clerk": scenes.queue_builds(max_people=4, every=1.5),
    "walks in, stands": scenes.standing_still(arrive_at=0.5, duration=12.0),
}
VARIANTS: dict[str, dict[str, Any]] = {
    "whole frame (ref.)": {"crop_margin": None, "motion": {"crops": False}},
    "region (zone + 0.2)": {"crop_margin": 0.2, "motion": {"crops": False}},
    "moving parts of the region": {"crop_margin": 0.2, "motion": {"crops": True}},
}


def deployment(model: str, detect: dict[str, Any]) -> Deployment:
    """One hall camera with the waiting zone and a presence rule on it."""
    camera = {
        "id": "cam", "name": "cam", "site": "hall", "url": "file:clip.mp4", "fps": 2,
        "detect": {"model": "person", "min_area": {"person": 4000}, **detect},
    }  # fmt: skip
    data = {
        "name": "motion",
        "sites": [{"id": "hall", "name": "hall", "area_code": "610115"}],
        "cameras": [camera],
        "zones": [{"id": "queue", "camera": "cam", "polygon": [list(p) for p in scenes.WAITING_ZONE]}],
        "rules": [{"id": "queue", "name": "queue", "type": "presence", "camera": "cam", "zone": "queue"}],
        "vision": {"models": [{"id": "person", "path": model, "classes": {"Normal": "person"}}]},
    }
    return parse_config(yaml.safe_dump(data))


def run(model: str, detector: Detector, detect: dict[str, Any], frames: list[Frame]) -> tuple[float, float]:
    """CPU seconds and detector input pixels per analysed frame, through a fresh analyser."""
    setup = deployment(model, detect)
    camera = setup.cameras[0]

    def one(frame: Frame) -> Detections:
        return detector.detect([frame.image])[0]

    analyser = CameraAnalyser(setup, camera, CameraWorker(camera), one, MemorySink())
    started = time.process_time()
    for frame in frames:
        analyser.process(frame)
    return (time.process_time() - started) / len(frames), analyser.stats.pixels / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--fps", type=float, default=2.0, help="analysed frames per second of the clips")
    args = parser.parse_args()
    console = Console(width=150)  # the table on one line per case, in a log too
    console.print(f"{os.cpu_count()} cores, load average at the start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        model = str(rectangular_onnx(resolve_model("pkg:fall_detection/models/best.pt"), folder / "p.onnx"))
        detector = load_detector(DetectorSpec(model, threads=1))
        clips: dict[str, list[Frame]] = {}
        for name, scene in SCENES.items():
            path = folder / f"{len(clips)}.mp4"
            scenes.write_clip(scene, path, fps=args.fps)
            clips[name] = list(sampled_frames(path, "cam", args.fps, datetime.now(UTC)))
        cpu: dict[tuple[str, str], list[float]] = {}
        pixels: dict[tuple[str, str], float] = {}
        run(model, detector, VARIANTS["whole frame (ref.)"], clips["one walker"][:3])  # warm up
        for _ in range(args.rounds):
            for clip, frames in clips.items():
                for variant, detect in VARIANTS.items():
                    seconds, area = run(model, detector, detect, frames)
                    cpu.setdefault((clip, variant), []).append(seconds)
                    pixels[clip, variant] = area
    table = Table(title=f"CPU per analysed frame, {args.fps:g} fps, {args.rounds} interleaved rounds")
    for column in (
        "scene",
        "detected in",
        "frames",
        "CPU ms/frame p50 (min-max)",
        "vs whole",
        "pixels/frame",
        "vs whole",
    ):
        table.add_column(column, justify="left" if column in ("scene", "detected in") else "right")
    for clip, frames in clips.items():
        reference = (statistics.median(cpu[clip, "whole frame (ref.)"]), pixels[clip, "whole frame (ref.)"])
        for variant in VARIANTS:
            values = [v * 1000 for v in cpu[clip, variant]]
            median = statistics.median(values)
            table.add_row(
                clip,
                variant,
                str(len(frames)),
                f"{median:.1f} ({min(values):.1f}-{max(values):.1f})",
                f"{median / 1000 / reference[0]:.2f}",
                f"{pixels[clip, variant]:,.0f}",
                f"{pixels[clip, variant] / reference[1]:.2f}",
            )
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
