"""`offsite edge -c FILE`: a site's box: its cameras and sensors judged here, findings and readings
shipped to the hub."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from offsite.startup import err, load_or_exit

if TYPE_CHECKING:
    from edge.box import BoxSink, EdgeSettings, RunningConfig
    from edge.config import SiteConfig
    from edge.readings import ReadingsOutbox
    from edge.sensors import BoxSensors
    from edge.uplink import HubUplink
    from hub.config import Deployment

console = Console(soft_wrap=True)


def run(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Deployment YAML file to run instead of the site's config pulled from the hub",
        ),
    ] = None,
    site: Annotated[
        str | None, typer.Option(help="The site this box serves (needed when the cameras span several)")
    ] = None,
    every: Annotated[float, typer.Option(help="Seconds between status tables")] = 30.0,
) -> None:
    """Analyse the site's cameras as the hub would and ship events and evidence to the hub
    (OFFSITE_HUB_URL, OFFSITE_EDGE_TOKEN, OFFSITE_HUB_CA) through an outbox on disk, until interrupted.
    Without --config the box runs its site's part of the deployment, pulled from the hub and kept
    on disk for a start while the hub is unreachable."""
    from edge.box import Analysis, BoxSink, HeartbeatSender, disk_bounds
    from edge.frames import FrameSender
    from edge.readings import ReadingsOutbox
    from hub.spool import DurableSink
    from offsite.commands.vision import status_table

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # from the start: a stop while booting is clean
    settings = edge_settings_or_exit()
    uplink = settings.uplink()
    site, deployment, running, pulled = starting_config(config, site, uplink, settings.data_dir)
    # Every event and evidence file is on disk before anything else; delivered in order once the hub answers.
    events_bound, readings_bound = disk_bounds(deployment, site)  # one disk budget for both outboxes
    outbox = DurableSink(
        settings.data_dir / "outbox" / f"{site}.sqlite",
        uplink,
        limit_bytes=events_bound,
        catch_up_per_s=deployment.edge.catch_up_per_s,
    )
    frames = FrameSender(settings.uplink())  # the camera wall's newest frames: straight, never spooled
    sink = BoxSink(outbox, deployment, frames)
    # The sensors' readings likewise, in an outbox of their own (what a previous run left goes first).
    readings = ReadingsOutbox(
        settings.data_dir / "outbox" / f"{site}-readings.sqlite",
        uplink,
        site,
        limit_rows=readings_bound,
        catch_up_per_s=deployment.edge.catch_up_per_s,
    )
    try:
        analysis = Analysis(deployment, sink, outbox, site=site)
    except ValueError as exc:  # a model that does not load
        frames.close()
        outbox.close()
        readings.close()
        fail(uplink, f"{config or (pulled and pulled.cache)}: {exc}", 1)
    if pulled is not None:
        pulled.check = analysis.prepare  # a new version is built beside the running one before it is kept
    heartbeat = HeartbeatSender(
        uplink,
        site,
        running,
        outbox,
        lambda: dict(sink.cameras),
        settings.heartbeat_every,
        answered=settings.data_dir / "outbox" / "hub-answered",
        readings=readings,
    )
    analysis.service.start()
    heartbeat.start()
    sensors = start_sensors(deployment, site, readings, sink)
    console.print(
        f"edge: site {site}, {len(analysis.service.ingest.workers)} cameras,"
        f" {len(sensors.deployment.sensors) if sensors else 0} sensors, hub {settings.hub_url}"
    )
    next_table = time.monotonic() + every
    next_pull = time.monotonic() + deployment.edge.config_every
    try:
        while not stop.wait(min(every, sink.deployment.edge.config_every, 10.0)):
            if pulled is not None and time.monotonic() >= next_pull:
                if analysis.follow(pulled):
                    console.print(f"edge: config {pulled.version[:12]} in force")
                    readings.limit_rows = disk_bounds(sink.deployment, site)[1]
                    if sensors is None or sensors.changed(sink.deployment):
                        if sensors is not None:
                            sensors.stop()
                        sensors = start_sensors(sink.deployment, site, readings, sink)
                next_pull = time.monotonic() + sink.deployment.edge.config_every
            if time.monotonic() >= next_table:
                console.print(status_table(analysis.service, outbox))
                next_table += every
    except KeyboardInterrupt:
        pass
    finally:
        if sensors is not None:
            sensors.stop()
        analysis.service.stop()
        frames.close()
        heartbeat.stop()
        readings.close()
        outbox.close()
        uplink.close()


def start_sensors(
    deployment: Deployment, site: str, readings: ReadingsOutbox, sink: BoxSink
) -> BoxSensors | None:
    """The site's sensors taken from its broker, their rules' events into the box's outbox; None
    when the site has none. A broker setting that cannot work is printed and the box runs on
    without its sensors."""
    from edge.sensors import BoxSensors, site_broker

    try:
        sensors = BoxSensors(deployment, site, site_broker(deployment), readings, sink)
    except ValueError as exc:
        err.print(f"sensors: {exc}", markup=False, highlight=False)
        return None
    if not sensors.wanted:
        return None
    sensors.start()
    console.print(f"edge: sensors from {sensors.broker.host}:{sensors.broker.port}")
    return sensors


def starting_config(
    config: Path | None, site: str | None, uplink: HubUplink, data_dir: Path
) -> tuple[str, Deployment, RunningConfig, SiteConfig | None]:
    """The site, the deployment the box starts on, and what its heartbeat reports of it: the file
    given, or the hub's config (then also the `SiteConfig` that follows it); else exit."""
    from edge.box import FileConfig, site_cameras
    from edge.config import NoConfig, SiteConfig

    if config is not None:
        loaded = load_or_exit(config)
        try:
            site, deployment = site_cameras(loaded.deployment, site)
        except ValueError as exc:
            fail(uplink, f"{config}: {exc}", 2)
        return site, deployment, FileConfig(loaded.sha256), None
    pulled = SiteConfig(uplink, data_dir / "config" / "site.yaml")
    try:
        deployment = pulled.boot().deployment
    except NoConfig as exc:
        fail(uplink, f"config: {exc}", 1)
    if site is not None and site != pulled.site:
        fail(uplink, f"the hub's config is for site {pulled.site}, not {site}", 2)
    return pulled.site, deployment, pulled, pulled


def fail(uplink: HubUplink, message: str, code: int) -> NoReturn:
    """Print `message` and exit with `code`, the uplink closed."""
    uplink.close()
    err.print(message, markup=False, highlight=False)
    raise typer.Exit(code)


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
