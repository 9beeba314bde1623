"""`offsite vision ...`: run the cameras of a deployment, and detect on pictures from the shell."""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from offsite.startup import load_or_exit, settings_or_exit

if TYPE_CHECKING:
    from hub.config import Deployment
    from hub.config.devices import Camera
    from hub.runtime import Hub
    from hub.spool import DurableSink
    from vision.service import VisionService

app = typer.Typer(help="Cameras and video analysis.", no_args_is_help=True)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    every: Annotated[float, typer.Option(help="Seconds between status tables")] = 30.0,
) -> None:
    """Decode and analyse every enabled camera, delivering findings to the hub, until interrupted."""
    from hub.counters import CounterSink
    from hub.runtime import Hub
    from hub.sink import InProcessSink
    from hub.spool import DurableSink
    from vision.models import ModelError
    from vision.service import VisionService
    from vision.sink import HubSink

    loaded = load_or_exit(config)
    settings = settings_or_exit()
    hub = Hub.start(loaded, settings)
    # Events and their evidence wait on disk while the database is away; delivered in order once back.
    spool = DurableSink(settings.data_dir / "spool" / "vision.sqlite", InProcessSink.of(hub, "vision"))
    try:
        service = VisionService(loaded.deployment, HubSink(hub, events=spool))
    except ModelError as exc:
        spool.close()
        hub.close()
        console.print(f"[red]{config}: {exc}[/]")
        raise typer.Exit(1) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service.start()
    console.print(f"vision: {len(service.ingest.workers)} cameras, {len(service.detectors)} detector(s)")
    counters = CounterSink("cameras")  # for /metrics, every 10 s and once more at the end
    next_table = time.monotonic() + every
    next_counts = time.monotonic() + 10.0
    try:
        # Cameras that are all files end the command once the last frame is analysed.
        while not stop.wait(0.5) and not service.finished():
            now = time.monotonic()
            if now >= next_counts:
                counters.report(hub.db, camera_counts(service) | spool.counts("spool"))
                next_counts = now + 10.0
            if now >= next_table:
                console.print(status_table(service, spool))
                next_table += every
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        if service.finished():
            console.print(status_table(service, spool))
        counters.report(hub.db, camera_counts(service) | spool.counts("spool"))
        spool.close()
        hub.close()


@app.command("analyse")
def analyse(
    files: Annotated[list[Path], typer.Argument(help="Recordings of the camera, in order")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    camera: Annotated[
        str | None, typer.Option(help="Camera whose rules apply (default: the only camera with detect)")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="When the first recording began (ISO 8601; the deployment's time zone if none); the "
            "others follow it. Default: each file's own creation_time"
        ),
    ] = None,
) -> None:
    """Analyse recorded footage of one camera as fast as the box allows, findings into the hub."""
    from hub.runtime import Hub
    from vision.replay import FootageError

    loaded = load_or_exit(config)
    deployment = loaded.deployment
    chosen = _camera_or_exit(deployment, camera, config)
    try:
        starts = _starts(files, start, deployment.tz)
    except (FootageError, ValueError) as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    settings = settings_or_exit()
    hub = Hub.start(loaded, settings)
    try:
        _analyse(hub, chosen, list(zip(files, starts, strict=True)), config)
    finally:
        hub.close()


@app.command("export")
def export(
    weights: Annotated[str, typer.Argument(help="PyTorch weights: a path or pkg:MODULE/PATH")],
    out: Annotated[Path, typer.Option("--out", "-o", help="ONNX file to write")],
) -> None:
    """Export ultralytics weights to ONNX with a dynamic input (640 x 384 for 16:9 cameras, crops at
    their own size), for boxes without torch: point the model's path at the file."""
    from vision.export import rectangular_onnx
    from vision.models import ModelError, resolve_model

    try:
        made = rectangular_onnx(resolve_model(weights), out)
    except ModelError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"wrote {made}", markup=False, highlight=False)


@app.command("quantize")
def quantize(
    model: Annotated[
        Path, typer.Argument(help="Float ONNX detection model (e.g. from `offsite vision export`)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="INT8 ONNX file to write")],
) -> None:
    """Quantize a model to INT8 (onnxruntime static quantization, calibrated on the scenario scenes)
    and report how its detections agree with the float model's on other frames of those scenes."""
    import numpy as np

    from offsite import scenes
    from vision.detectors import DetectorSpec, load_detector
    from vision.models import ModelError
    from vision.quantize import agreement
    from vision.quantize import quantize as to_int8

    sample = (
        scenes.queue_builds(),
        scenes.walks_across(),
        scenes.window_post_left(),
        scenes.standing_still(),
    )

    def frames(offset: float) -> list[Any]:
        return [scenes.render(s, float(t)) for s in sample for t in np.linspace(offset, s.duration - 0.5, 4)]

    try:
        made = to_int8(model, out, frames(0.3))
        fp32, int8 = (load_detector(DetectorSpec(str(path))) for path in (model, made))
    except ModelError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    held_out = frames(0.8)
    timings: dict[str, float] = {}
    found: dict[str, list[Any]] = {}
    for name, detector in (("FP32", fp32), ("INT8", int8)):
        detector.detect(held_out[:1])  # the first run sets the session up
        started = time.perf_counter()
        found[name] = [d[d.confidence >= 0.35] for d in detector.detect(held_out)]
        timings[name] = (time.perf_counter() - started) * 1000 / len(held_out)
    result = agreement(found["FP32"], found["INT8"])
    console.print(
        f"wrote {made}: F1 {result.f1:.3f} against FP32 at IoU 0.5 on {len(held_out)} held-out frames "
        f"({result.matched} boxes matched, {result.only_reference} only in FP32, {result.only_other} only "
        f"in INT8); {timings['FP32']:.0f} ms a frame in FP32, {timings['INT8']:.0f} in INT8",
        markup=False,
        highlight=False,
    )


def _camera_or_exit(deployment: Deployment, wanted: str | None, config: Path) -> Camera:
    detected = [c for c in deployment.cameras if c.detect is not None]
    known = ", ".join(c.id for c in detected) or "none"
    found = [c for c in detected if c.id == wanted] if wanted else detected
    if len(found) != 1:
        what = f"no camera {wanted!r} with detect" if wanted else "give --camera"
        err.print(f"{config}: {what}; cameras with detect: {known}", markup=False, highlight=False)
        raise typer.Exit(2)
    return found[0]


def _starts(files: list[Path], start: str | None, tz: tzinfo) -> list[datetime]:
    """When each recording began: from `start`, one after another, or from each file's own tag."""
    from vision.replay import FootageError, duration, recorded_at

    if start is None:
        found = [(path, recorded_at(path)) for path in files]
        missing = [str(path) for path, at in found if at is None]
        if missing:
            raise FootageError(f"{', '.join(missing)}: no creation_time in the file; give --start")
        return [at for _, at in found if at is not None]
    try:
        first = datetime.fromisoformat(start)
    except ValueError:
        raise ValueError(f"--start {start!r}: expected an ISO 8601 time such as 2026-12-01T09:30") from None
    first = first if first.tzinfo is not None else first.replace(tzinfo=tz)
    out = [first]
    for path in files[:-1]:
        out.append(out[-1] + timedelta(seconds=duration(path)))
    return out


def _analyse(hub: Hub, camera: Camera, recordings: list[tuple[Path, datetime]], config: Path) -> None:
    """Each recording through the camera's analysis, with a progress bar; a summary at the end."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    from capture.worker import CameraWorker
    from vision.analysis import CameraAnalyser
    from vision.detectors import DetectorSpec, load_detector
    from vision.models import ModelError
    from vision.replay import FootageError, duration, replay
    from vision.sink import HubSink

    assert camera.detect is not None  # chosen among the cameras with detect
    model = next(m for m in hub.config.deployment.vision.models if m.id == camera.detect.model)
    try:
        # One frame at a time: the one detection gets every core unless the model says otherwise.
        detector = load_detector(DetectorSpec.of(model.model_copy(update={"workers": 1})))
    except ModelError as exc:
        err.print(f"{config}: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    analyser = CameraAnalyser(
        hub.config.deployment,
        camera,
        CameraWorker(camera),  # never started: recordings have no live packets to cut clips from
        lambda frame: detector.detect([frame.image])[0],
        HubSink(hub),
    )
    try:
        lengths = [duration(path) for path, _ in recordings]
    except FootageError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with Progress(*columns, TimeRemainingColumn(), console=console) as progress:
        for (path, began), length in zip(recordings, lengths, strict=True):
            task = progress.add_task(path.name, total=max(length, 1e-3))

            def advance(at: float, task: TaskID = task) -> None:
                progress.update(task, completed=at)

            try:
                replay(path, analyser.process, camera.id, camera.fps, began, advance)
            except FootageError as exc:
                err.print(str(exc), markup=False, highlight=False)
                raise typer.Exit(1) from None
            progress.update(task, completed=max(length, 1e-3))
    a = analyser.stats
    console.print(
        f"{camera.id}: {len(recordings)} recording(s), {a.frames} frames analysed, "
        f"{a.detected} detected, {a.events} events",
        markup=False,
        highlight=False,
    )


def camera_counts(service: VisionService) -> dict[tuple[str, str], int]:
    """Each camera's counters as `hub.counters.CounterSink` takes them."""
    counts: dict[tuple[str, str], int] = {}
    for camera_id, worker in service.ingest.workers.items():
        w = worker.stats
        mine = {"connects": w.connects, "decoded": w.frames_decoded, "aborted_reads": w.aborted_reads}
        analyser = service.analysers.get(camera_id)
        if analyser is not None:
            a = analyser.stats
            mine |= {"analysed": a.frames, "detected": a.detected, "events": a.events, "errors": a.errors}
        counts |= {(camera_id, name): value for name, value in mine.items()}
    return counts


def status_table(service: VisionService, spool: DurableSink | None = None) -> Table:
    """One row per camera: status, frames decoded and analysed, events, the last error; under it
    the events waiting in the spool for the hub."""
    table = Table(title="Cameras")
    if spool is not None:
        table.caption = f"spool: {spool.depth()} events waiting, the oldest for {spool.age():.0f} s"
    for column in ("camera", "status", "decoder", "decoded", "analysed", "detected", "events", "error"):
        table.add_column(column)
    for camera_id, worker in service.ingest.workers.items():
        analyser = service.analysers.get(camera_id)
        a = analyser.stats if analyser is not None else None
        table.add_row(
            camera_id,
            str(worker.status),
            worker.stats.decoder,
            str(worker.stats.frames_decoded),
            str(a.frames) if a else "-",
            str(a.detected) if a else "-",
            str(a.events) if a else "-",
            (a.last_error if a and a.last_error else worker.stats.last_error)[:60],
        )
    return table
