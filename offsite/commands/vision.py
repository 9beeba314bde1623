"""`offsite vision ...`: run the cameras of a deployment, and detect on pictures from the shell."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from offsite.startup import load_or_exit, settings_or_exit

if TYPE_CHECKING:
    from hub.spool import DurableSink
    from vision.service import VisionService

app = typer.Typer(help="Cameras and video analysis.", no_args_is_help=True)
console = Console(soft_wrap=True)


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
    try:
        while not stop.wait(min(every, 10.0)):
            counters.report(hub.db, camera_counts(service) | spool.counts("spool"))
            if time.monotonic() >= next_table:
                console.print(status_table(service, spool))
                next_table += every
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        counters.report(hub.db, camera_counts(service) | spool.counts("spool"))
        spool.close()
        hub.close()


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
