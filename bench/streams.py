"""Streams per box: how many 1080p25 RTSP cameras one box analyses at 1 frame a second each.

    .venv/bin/python -m bench.streams [--max 16] [--seconds 30 | --quick] [--model yolo11n|person|person-rect]
        [--workers N] [--threads N] [--crop] [--processes]
    .venv/bin/python -m bench.streams --compare 8,12 --variants before,workers,rect,crop,process

A 1080p 25 fps H.264 clip is made with PyAV: the queue scene of `offsite.scenes` (real people
walking in and queueing), looped, scaled to 1920 x 1080, with fresh sensor noise in every frame
so that P-frames cost what they cost on a camera; libx264 at 4 Mbit/s, a keyframe every 25
frames and no B-frames, as a camera sends (kept under the data folder, `var/bench`, for the next
run). One GStreamer RTSP server on this box serves it under
one mount per camera. For N = 1, 2, 4, 8, 12, 16, 24, 32, ... up to --max, until an N is not
sustained, a `VisionService` runs N cameras as a slow scene is deployed (`fps: 1`,
`keyframes_only: true`, motion gating on, a presence rule), all sharing one detector worker
(onnxruntime, batching). Events go to an in-memory sink that counts them: no database. A stream
is sustained when it analyses at least 0.9 frames a second and the p95 of its frames' time from
leaving the server to analysis done is under 2 s (the analyser's lag, decode to analysis done,
plus any backlog before the decode). References: the decode alone, measured offline in full and
keyframes only, and one stream decoded in full, live.

Each run prints the share of the box's cores each part of the pipeline takes: decode (the
capture threads and FFmpeg's decoder threads), the motion gate and the crop (timed on the
analysis threads with `time.thread_time`), detect (the detector threads, their native pools and
any detector processes), tracking and rules (the rest of the analysis threads), the RTSP server,
and the other processes on the box; "box busy" is all of them.

`--compare` runs each of `--variants` (the steps that make a detection cheaper, see VARIANTS) at
each stream count, interleaved, so that other load on the box falls on all of them alike.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import yaml
from rich.console import Console
from rich.table import Table

from bench.clips import HEIGHT, WIDTH, decode_cost, kept_clip
from bench.detect import build_models
from capture.frames import Frame, Image
from capture.health import StatusChange
from harness.rtsp import RtspServer, start_rtsp_server
from hub.config import Deployment, parse_config
from hub.events import Event, Outcome
from hub.sink import Delivery, Fate
from offsite import scenes
from vision.analysis import CameraAnalyser
from vision.detections import Detections
from vision.detectors import Detector, DetectorSpec, load_detector
from vision.detectors.base import share_cores
from vision.detectors.process import ProcessDetector
from vision.export import rectangular_onnx
from vision.models import resolve_model
from vision.rules import Hit
from vision.service import VisionService

SCALE = WIDTH / scenes.WIDTH
CONNECT_LIMIT = 20.0  # seconds for every camera to deliver its first frame
SETTLE = 3.0  # seconds more before measuring
MIN_FPS, MAX_P95 = 0.9, 2.0  # what a sustained stream needs
MODELS = {  # --model -> (model file or None for yolo11n built here, class map)
    "yolo11n": (None, {"0": "person"}),
    "person": ("pkg:fall_detection/models/best_fp16.onnx", {"Normal": "person"}),  # fixed 640 x 640
    "person-rect": ("pkg:fall_detection/models/best.pt", {"Normal": "person"}),  # exported, dynamic input
}


@dataclass(frozen=True)
class Variant:
    """How the detector runs: model, workers and threads, crop to the zones, separate processes."""

    model: str = "person"
    workers: int | None = None  # None: the deployment's default (a worker per core)
    threads: int | None = None
    crop: bool = False
    processes: bool = False

    def label(self) -> str:
        parts = [self.model, f"{self.workers or 'auto'} worker(s) x {self.threads or 'auto'} thread(s)"]
        return ", ".join(parts + ["crop"] * self.crop + ["processes"] * self.processes)


# Each step of issue 15 on top of the previous one; "before" is the deployment as it ran before.
VARIANTS = {
    "before": Variant("person", workers=1, threads=1),
    "threads": Variant("person", workers=1, threads=2),
    "workers": Variant("person", workers=2, threads=1),
    "rect": Variant("person-rect", workers=2, threads=1),
    "crop": Variant("person-rect", workers=2, threads=1, crop=True),
    "process": Variant("person-rect", workers=2, threads=1, crop=True, processes=True),
}
EVENT_COST_MS = 2.6  # one hub event on PostgreSQL, one thread: 382 ev/s in BENCHMARKS.md


class TimedDetector:
    """A detector that adds up the wall time spent in it: how busy the shared detector is."""

    def __init__(self, detector: Detector) -> None:
        self.detector, self.names, self.busy = detector, detector.names, 0.0

    def detect(self, images: Sequence[Image]) -> list[Detections]:
        started = time.perf_counter()
        try:
            return self.detector.detect(images)
        finally:
            self.busy += time.perf_counter() - started

    def describe(self) -> str:
        return self.detector.describe()


class MemorySink:
    """An `EventSink` that keeps nothing but which alerts are open: no database, no files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[tuple[str, str]] = set()  # (source, rule) of the alerts open

    def keep(self, data: bytes, media_type: str) -> str:
        return hashlib.sha256(data).hexdigest()

    def take(self, events: Sequence[Event]) -> list[Delivery]:
        return [Delivery(event.id, Fate.TAKEN, self._outcome(event)) for event in events]

    def _outcome(self, event: Event) -> Outcome:
        key = (event.source, event.rule)
        with self._lock:
            if event.cleared:
                self._open.discard(key)
                return Outcome.CLOSED
            if key in self._open:
                return Outcome.UPDATED
            self._open.add(key)
            return Outcome.OPENED

    def attach(self, event_id: str, evidence: Sequence[str]) -> None:
        pass

    def camera_status(self, change: StatusChange) -> None:
        pass


def deployment(
    urls: list[str], model: str, classes: dict[str, str], keyframes_only: bool, variant: Variant
) -> Deployment:
    """One hall camera per URL, each with the waiting zone and a presence rule on it."""
    zone = [[round(x * SCALE), round(y * SCALE)] for x, y in scenes.WAITING_ZONE]
    detect = {
        "model": "det", "min_area": {"person": 9000}, "motion": {"enabled": True},
        "crop_margin": 0.2 if variant.crop else None,
    }  # fmt: skip
    cameras, zones, rules = [], [], []
    for i, url in enumerate(urls):
        cam = f"cam{i}"
        cameras.append({
            "id": cam, "name": cam, "site": "hall", "url": url,
            "fps": 1, "keyframes_only": keyframes_only, "detect": detect,
        })  # fmt: skip
        zones.append({"id": f"{cam}-queue", "camera": cam, "polygon": zone})
        rules.append({
            "id": f"{cam}-queue", "name": "queue", "type": "presence", "camera": cam, "zone": f"{cam}-queue",
        })  # fmt: skip
    model_settings = {"id": "det", "path": model, "classes": classes, "workers": variant.workers}
    model_settings |= {"threads": variant.threads, "processes": variant.processes}
    data = {
        "name": "streams",
        "sites": [{"id": "hall", "name": "hall", "area_code": "610115"}],
        "cameras": cameras,
        "zones": zones,
        "rules": rules,
        "vision": {"models": [model_settings]},
    }
    return parse_config(yaml.safe_dump(data))


def stage(python_name: str | None, system_name: str) -> str:
    """The pipeline stage a thread of this process works for, from its names."""
    if python_name is None:
        # Native threads: FFmpeg names its decoder threads av:h264:df0 and so on; the pools of
        # onnxruntime (beyond its first thread), OpenCV and OpenBLAS keep the process's name.
        return "decoder threads" if system_name.startswith("av:") else "native pools"
    for prefix, name in (("analysis-", "analysis"), ("detector-", "detector"), ("camera-cam", "capture")):
        if python_name.startswith(prefix):
            return name
    return "other"  # the main thread, the camera watchdog


def children_cpu(server: RtspServer) -> float:
    """CPU seconds of this process's children but the RTSP server: the detector processes."""
    assert server.process is not None
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        if child.pid == server.process.pid:
            continue
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def system_name(thread_id: int) -> str:
    try:
        return Path(f"/proc/self/task/{thread_id}/comm").read_text().strip()
    except OSError:  # the thread has just ended
        return ""


def thread_cpu() -> Counter[str]:
    """CPU seconds of this process by stage."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    split = Counter[str]()
    for thread in psutil.Process().threads():
        split[stage(names.get(thread.id), system_name(thread.id))] += thread.user_time + thread.system_time
    return split


@dataclass(frozen=True)
class Snapshot:
    """Counters at one moment of a run."""

    wall: float
    epoch: float
    cpu: Counter[str]  # this process by stage, "server" for the RTSP server, "motion" and "crop" (analysis)
    frames: dict[str, int]  # analysed, per camera
    lags: dict[str, int]  # lags recorded so far, per camera
    latencies: dict[str, int]  # events stored so far, per camera
    detected: int
    dropped: int
    detector_frames: int
    detector_batches: int
    detector_busy: float

    @classmethod
    def take(
        cls, service: VisionService, server: RtspServer, detector: TimedDetector, arrivals: Arrivals
    ) -> Snapshot:
        analysers = service.analysers
        assert server.process is not None
        server_cpu = psutil.Process(server.process.pid).cpu_times()
        others = Counter({"server": server_cpu.user + server_cpu.system, "detector": children_cpu(server)})
        worker = service.detectors["det"].stats
        return cls(
            time.perf_counter(),
            time.time(),
            thread_cpu() + others + arrivals.part_cpu(),
            {c: a.stats.frames for c, a in analysers.items()},
            {c: len(a.stats.lags) for c, a in analysers.items()},
            {c: len(a.stats.latencies) for c, a in analysers.items()},
            sum(a.stats.detected for a in analysers.values()),
            sum(w.queue.dropped for w in service.ingest.workers.values()),
            worker.frames,
            worker.batches,
            detector.busy,
        )


@dataclass(frozen=True)
class Run:
    """What N streams did in the measured window."""

    label: str
    streams: int
    fps: list[float]  # analysed frames per second, per stream
    lags: list[list[float]]  # seconds from decode to analysis done, per stream
    delays: list[list[float]]  # seconds from leaving the server to analysis done, per stream
    latencies: list[list[float]]  # seconds from decode to event stored, per stream
    detected: float  # share of the analysed frames that went to the detector
    dropped: int
    mean_batch: float
    detector_busy: float  # share of the window
    cpu: dict[str, float]  # share of the box's cores, by stage
    box: float  # share of the box busy, all processes

    @property
    def sustained(self) -> int:
        """Streams analysed often enough, with a p95 delay from the server under the limit."""
        return sum(
            fps >= MIN_FPS and bool(delays) and float(np.percentile(delays, 95)) < MAX_P95
            for fps, delays in zip(self.fps, self.delays, strict=True)
        )


class Arrivals:
    """Per camera, for each analysed frame: its pts, when it was decoded, when its analysis ended.

    `stats.lags` start at the decode: a capture thread falling behind the live stream (data
    waiting in the socket) would not show there. The server plays each clip in real time from
    the connection, so a frame of pts t leaves it at origin + t; the smallest (decoded - pts) of
    the run stands for the origin.
    """

    def __init__(self) -> None:
        self.frames: dict[str, list[tuple[float, float, float]]] = {}
        self.parts: dict[str, dict[str, float]] = {}  # per camera: CPU seconds of its motion gate and crop

    def watch(self, analyser: CameraAnalyser) -> None:
        process, frames = analyser.process, self.frames.setdefault(analyser.camera.id, [])
        parts = self.parts.setdefault(analyser.camera.id, {"motion": 0.0, "crop": 0.0})

        def watched(frame: Frame) -> list[Hit]:
            hits = process(frame)
            if frame.pts_time is not None:
                frames.append((frame.pts_time, frame.time.timestamp(), time.time()))
            return hits

        analyser.process = watched  # type: ignore[method-assign]
        # The analysis thread's own CPU by part, from time.thread_time: the motion gate, and the
        # crop (from the gate's yes to the first detection asked, which waits off this thread).
        should_detect, detect = analyser.gate.should_detect, analyser._detect
        crop_from: list[float] = []

        def gate(image: Image, now: float) -> bool:
            started = time.thread_time()
            moved = should_detect(image, now)
            crop_from[:] = [time.thread_time()] if moved else []
            parts["motion"] += crop_from[0] - started if moved else time.thread_time() - started
            return moved

        def crops_done() -> None:
            if crop_from:
                parts["crop"] += time.thread_time() - crop_from.pop()

        def detect_timed(frame: Frame) -> Detections:
            crops_done()
            return detect(frame)

        analyser.gate.should_detect = gate  # type: ignore[method-assign]
        analyser._detect = detect_timed
        detect_many = analyser._detect_many  # a frame's moving parts, in one batch
        if detect_many is not None:

            def detect_many_timed(frames: Sequence[Frame]) -> list[Detections]:
                crops_done()
                return detect_many(frames)

            analyser._detect_many = detect_many_timed

    def part_cpu(self) -> Counter[str]:
        """CPU seconds of the motion gates and crops so far, all cameras."""
        total = Counter[str]()
        for camera in list(self.parts.values()):
            total.update(camera)
        return total

    def delays(self, camera: str, start: float, end: float) -> list[float]:
        """Seconds from leaving the server to analysis done, for frames done in [start, end)."""
        frames = self.frames.get(camera, [])
        origin = min((decoded - pts for pts, decoded, _ in frames), default=0.0)
        return [done - pts - origin for pts, _, done in frames if start <= done < end]


def between(
    values: dict[str, deque[float]], before: dict[str, int], after: dict[str, int]
) -> list[list[float]]:
    """Per camera, the values appended between two snapshots (the deques keep 10,000: a run's)."""
    return [list(v)[before[c] : after[c]] for c, v in values.items()]


def start_staggered(service: VisionService, streams: int) -> None:
    """`service.start()` with the cameras connected 1/N s apart: real cameras are not in phase,
    and the server plays each client's clip from the time it connects."""
    for worker in service.detectors.values():
        worker.start()
    for camera in service.ingest.workers.values():
        camera.start()
        time.sleep(1.0 / streams)
    service.ingest.watchdog.start()
    for analyser in service.analysers.values():
        analyser.start()


def measure(
    server: RtspServer,
    streams: int,
    detector: TimedDetector,
    model: tuple[str, dict[str, str]],
    seconds: float,
    *,
    keyframes_only: bool,
    variant: Variant,
    label: str = "",
) -> Run:
    """Run N cameras, wait for all to deliver, then count what they do for `seconds`."""
    urls = [server.url(f"cam{i}") for i in range(streams)]
    service = VisionService(
        deployment(urls, *model, keyframes_only, variant), MemorySink(), detectors={"det": detector}
    )
    arrivals = Arrivals()
    for analyser in service.analysers.values():
        arrivals.watch(analyser)
    start_staggered(service, streams)
    try:
        deadline = time.monotonic() + CONNECT_LIMIT
        while time.monotonic() < deadline and not all(a.stats.frames for a in service.analysers.values()):
            time.sleep(0.2)
        time.sleep(SETTLE)
        before = Snapshot.take(service, server, detector, arrivals)
        psutil.cpu_percent()
        time.sleep(seconds)
        box = psutil.cpu_percent() / 100
        after = Snapshot.take(service, server, detector, arrivals)
    finally:
        service.stop()
    stats = {c: a.stats for c, a in service.analysers.items()}
    wall, cores = after.wall - before.wall, os.cpu_count() or 1
    frames = sum(after.frames.values()) - sum(before.frames.values())
    batches = after.detector_batches - before.detector_batches
    return Run(
        label + (f"{streams}" if keyframes_only else f"{streams}, full decode (ref.)"),
        streams,
        [(after.frames[c] - before.frames[c]) / wall for c in after.frames],
        between({c: x.lags for c, x in stats.items()}, before.lags, after.lags),
        [arrivals.delays(c, before.epoch, after.epoch) for c in stats],
        between({c: x.latencies for c, x in stats.items()}, before.latencies, after.latencies),
        (after.detected - before.detected) / max(frames, 1),
        after.dropped - before.dropped,
        (after.detector_frames - before.detector_frames) / max(batches, 1),
        (after.detector_busy - before.detector_busy) / wall,
        {k: v / wall / cores for k, v in (after.cpu - before.cpu).items()},
        box,
    )


def stream_counts(largest: int) -> list[int]:
    """1, 2, 4, 8, 12, 16, then 8 more at a time, up to `largest`, which is always included."""
    counts = [n for n in (1, 2, 4, 8, 12) if n < largest] + list(range(16, largest, 8))
    return [*counts, largest]


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def percent(share: float) -> str:
    return f"{100 * share:.0f} %"


def flat(per_stream: list[list[float]]) -> list[float]:
    return [x for values in per_stream for x in values]


def quantile(values: Sequence[float], q: int) -> str:
    return f"{np.percentile(values, q):.2f} s" if len(values) else "-"


def streams_table(runs: list[Run]) -> Table:
    sustained = f"sustained: >= {MIN_FPS} frames/s, p95 from server < {MAX_P95:g} s"
    table = Table(title=f"1080p25 RTSP streams analysed at 1 frame/s each ({sustained})")
    columns = ("streams", "frames/s", "per stream min", "sustained", "lag p50", "lag p95", "from server p95")
    for column in (*columns, "dropped", "detected", "mean batch", "detector busy", "events", "event p95"):
        table.add_column(column, justify="left" if column == "streams" else "right")
    for run in runs:
        lags, events = flat(run.lags), flat(run.latencies)
        table.add_row(
            run.label,
            f"{sum(run.fps):.1f}",
            f"{min(run.fps):.2f}",
            f"{run.sustained}/{run.streams}",
            quantile(lags, 50),
            quantile(lags, 95),
            quantile(flat(run.delays), 95),
            str(run.dropped),
            percent(run.detected),
            f"{run.mean_batch:.1f}",
            percent(run.detector_busy),
            str(len(events)),
            quantile(events, 95),
        )
    return table


PARTS = ("decode", "motion", "crop", "detect", "tracking + rules", "other threads")


def parts(run: Run) -> dict[str, float]:
    """The bench process's share of the box by part of the pipeline: decode (the capture threads,
    demuxing and converting, and FFmpeg's decoder threads), the motion gate, the crop (scaling
    and cutting), detect (detector threads, their native pools and detector processes), tracking
    and rules (the rest of the analysis threads), other threads (main, watchdog)."""
    cpu = run.cpu.get
    motion, crop = cpu("motion", 0.0), cpu("crop", 0.0)
    return {
        "decode": cpu("capture", 0.0) + cpu("decoder threads", 0.0),
        "motion": motion,
        "crop": crop,
        "detect": cpu("detector", 0.0) + cpu("native pools", 0.0),
        "tracking + rules": max(cpu("analysis", 0.0) - motion - crop, 0.0),
        "other threads": cpu("other", 0.0),
    }


def cpu_table(runs: list[Run]) -> Table:
    table = Table(title="the box's share each part takes (of all its cores)")
    for column in ("streams", "box busy", *PARTS, "RTSP server", "other processes"):
        table.add_column(column, justify="left" if column == "streams" else "right")
    for run in runs:
        shares = parts(run)
        server = run.cpu.get("server", 0.0)
        other = percent(max(run.box - sum(shares.values()) - server, 0.0))
        cells = [f"{100 * shares[part]:.1f} %" for part in PARTS]  # a part at 0.4 % still shows
        table.add_row(run.label, percent(run.box), *cells, percent(server), other)
    return table


def decode_table(costs: dict[str, float], cores: int) -> Table:
    table = Table(title="decode alone, offline, as a camera worker decodes (reference)")
    for column in ("mode", "CPU s per video s", "share of the box per stream", "streams it sustains"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for mode, cost in costs.items():
        table.add_row(mode, f"{cost:.3f}", f"{100 * cost / cores:.1f} %", f"{cores / cost:.1f}")
    return table


def load_model(variant: Variant, folder: Path) -> tuple[TimedDetector, str, Closer]:
    """The shared detector, warmed up, the model file it came from, and what ends it."""
    path, _ = MODELS[variant.model]
    if path is None:
        path = str(build_models(folder)["onnx-dynamic"])
    elif path.endswith(".pt"):
        path = str(rectangular_onnx(resolve_model(path), folder / f"{variant.model}.onnx"))
    workers, threads = share_cores(variant.workers, variant.threads)
    spec = DetectorSpec(path, threads=threads)
    if variant.processes:
        isolated = ProcessDetector(spec, processes=workers)
        detector, close = TimedDetector(isolated), isolated.close
    else:
        detector, close = TimedDetector(load_detector(spec)), _nothing
    detector.detect([np.zeros((HEIGHT, WIDTH, 3), np.uint8)])
    detector.busy = 0.0
    return detector, path, close


Closer = Callable[[], None]


def _nothing() -> None:
    pass


def compare(
    server: RtspServer, counts: list[int], names: list[str], folder: Path, seconds: float, console: Console
) -> list[Run]:
    """Every variant at every stream count, the variants interleaved within each count."""
    loaded = {name: load_model(VARIANTS[name], folder) for name in names}
    runs = []
    try:
        for streams in counts:
            for name in names:
                detector, path, _ = loaded[name]
                variant = VARIANTS[name]
                model = (path, MODELS[variant.model][1])
                run = measure(
                    server, streams, detector, model, seconds, keyframes_only=True, variant=variant,
                    label=f"{name}: ",
                )  # fmt: skip
                console.print(f"{run.label}: {run.sustained} sustained, load {load_average()}")
                runs.append(run)
    finally:
        for _, _, close in loaded.values():
            close()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max", type=int, default=16, help="most streams tried")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per run")
    parser.add_argument("--quick", action="store_true", help="15 s per run: a few minutes")
    parser.add_argument("--model", choices=sorted(MODELS), default="yolo11n")
    parser.add_argument("--workers", type=int, default=None, help="detector workers (a core each)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads per worker")
    parser.add_argument("--crop", action="store_true", help="detect only around the waiting zone")
    parser.add_argument("--processes", action="store_true", help="detector workers in processes")
    parser.add_argument("--compare", default="", help="stream counts to compare the variants at: 8,12")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"among {', '.join(VARIANTS)}")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 15.0  # at 1 frame a second, 10 s windows can count 9 frames of a sustained stream
    variant = Variant(args.model, args.workers, args.threads, args.crop, args.processes)
    console = Console(width=None if sys.stdout.isatty() else 200)  # the tables are wide
    cores = os.cpu_count() or 1
    console.print(f"{cores} cores, load average (1, 5, 15 min) at the start: {load_average()}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as temp:
        started = time.perf_counter()
        seconds = CONNECT_LIMIT + SETTLE + args.seconds + 10  # every run must end before the clip
        clip = kept_clip(seconds)
        console.print(
            f"clip: {seconds:g} s of 1080p25, {clip.megabits:.1f} Mbit/s, keyframes {percent(clip.key_share)}"
            f" of the bits, made in {time.perf_counter() - started:.0f} s"
        )
        if args.compare:
            counts = [int(n) for n in args.compare.split(",")]
            names = [n for n in args.variants.split(",") if n]
            unknown = [n for n in names if n not in VARIANTS]
            if unknown:
                parser.error(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
            for name in names:
                console.print(f"{name}: {VARIANTS[name].label()}")
            server = start_rtsp_server({f"cam{i}": clip.path for i in range(max(counts))})
            try:
                runs = compare(server, counts, names, Path(temp), args.seconds, console)
            finally:
                server.remove()
            console.print(streams_table(runs), cpu_table(runs))
            console.print(f"load average (1, 5, 15 min) at the end: {load_average()}")
            return
        detector, path, close = load_model(variant, Path(temp))
        console.print(f"detector: {detector.describe()}, {variant.label()}")
        costs = {mode: decode_cost(clip, mode == "keyframes only") for mode in ("full", "keyframes only")}
        model = (path, MODELS[args.model][1])
        server = start_rtsp_server({f"cam{i}": clip.path for i in range(args.max)})
        try:
            for streams in stream_counts(args.max):
                runs.append(
                    measure(
                        server, streams, detector, model, args.seconds, keyframes_only=True, variant=variant
                    )
                )
                console.print(f"{streams} streams: {runs[-1].sustained} sustained")
                if runs[-1].sustained < streams:
                    break  # more streams would only do worse
            runs.append(
                measure(server, 1, detector, model, args.seconds, keyframes_only=False, variant=variant)
            )
        finally:
            server.remove()
            close()
    console.print(streams_table(runs), cpu_table(runs), decode_table(costs, cores))
    best = max((r.streams for r in runs[:-1] if r.sustained == r.streams), default=0)
    console.print(f"largest number of streams sustained: {best} (goal 16)")
    console.print(
        f"no database: events went to an in-memory sink; a hub event costs about {EVENT_COST_MS} ms "
        "(one commit on PostgreSQL, BENCHMARKS.md), to add to the event latency"
    )
    console.print(f"load average (1, 5, 15 min) at the end: {load_average()}")


if __name__ == "__main__":
    main()
