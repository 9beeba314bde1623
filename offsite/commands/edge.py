"""`offsite edge -c FILE`: a site's box: its cameras analysed here, findings shipped to the hub."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from offsite.startup import err, load_or_exit

if TYPE_CHECKING:
    from edge.box import EdgeSettings

console = Console(soft_wrap=True)


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    site: Annotated[
        str | None, typer.Option(help="The site this box serves (needed when the cameras span several)")
    ] = None,
    every: Annotated[float, typer.Option(help="Seconds between status tables")] = 30.0,
) -> None:
    """Analyse the site's cameras as the hub would and ship events and evidence to the hub
    (OFFSITE_HUB_URL, OFFSITE_EDGE_TOKEN, OFFSITE_HUB_CA) through an outbox on disk, until interrupted."""
    from edge.box import BoxSink, HeartbeatSender, site_cameras
    from hub.spool import DurableSink
    from offsite.commands.vision import status_table
    from vision.models import ModelError
    from vision.service import VisionService

    loaded = load_or_exit(config)
    settings = edge_settings_or_exit()
    try:
        site, deployment = site_cameras(loaded.deployment, site)
    except ValueError as exc:
        err.print(f"{config}: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    uplink = settings.uplink()
    # Every event and evidence file is on disk before anything else; delivered in order once the hub answers.
    outbox = DurableSink(settings.data_dir / "outbox" / f"{site}.sqlite", uplink)
    sink = BoxSink(outbox, deployment)
    try:
        service = VisionService(deployment, sink)
    except ModelError as exc:
        outbox.close()
        uplink.close()
        err.print(f"{config}: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    heartbeat = HeartbeatSender(
        uplink,
        site,
        loaded.sha256,
        outbox,
        lambda: dict(sink.cameras),
        settings.heartbeat_every,
        answered=settings.data_dir / "outbox" / "hub-answered",
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service.start()
    heartbeat.start()
    console.print(f"edge: site {site}, {len(service.ingest.workers)} cameras, hub {settings.hub_url}")
    next_table = time.monotonic() + every
    try:
        while not stop.wait(min(every, 10.0)):
            if time.monotonic() >= next_table:
                console.print(status_table(service, outbox))
                next_table += every
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        heartbeat.stop()
        outbox.close()
        uplink.close()


def edge_settings_or_exit() -> EdgeSettings:
    """The box's settings from the environment, or exit 2 naming each variable that is wrong."""
    from pydantic import ValidationError

    from edge.box import EdgeSettings

    try:
        return EdgeSettings()
    except ValidationError as exc:
        for item in exc.errors(include_url=False):
            name = "OFFSITE_" + "_".join(str(part) for part in item["loc"]).upper()
            err.print(f"[red]environment[/]: {name}: {item['msg']}")
        raise typer.Exit(2) from None
