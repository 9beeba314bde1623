"""`offsite iot ...`: broker credentials from the registry, and the ingest worker."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.console import Console

app = typer.Typer(help="Sensors over MQTT.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("acl")
def acl(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    out: Annotated[Path, typer.Option(help="Folder for passwd, acl and new-credentials.txt")] = Path(
        "deploy"
    ),
) -> None:
    """Write Mosquitto password and ACL files so each device may publish only its own topics.

    The hub's user and password come from OFFSITE_MQTT_USERNAME and OFFSITE_MQTT_PASSWORD.
    """
    from hub.cli import load_or_exit
    from iot.acl import write_acl

    loaded = load_or_exit(config)
    user = os.environ.get("OFFSITE_MQTT_USERNAME", "hub")
    password = os.environ.get("OFFSITE_MQTT_PASSWORD")
    if not password:
        console.print("[red]set OFFSITE_MQTT_PASSWORD[/] (the hub's broker password)")
        raise typer.Exit(2)
    fresh = write_acl(loaded.deployment, out, user, password)
    console.print(f"wrote {out / 'passwd'} and {out / 'acl'}")
    if fresh:
        console.print(f"{len(fresh)} new device(s); their passwords are in {out / 'new-credentials.txt'}")


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    client_id: Annotated[str, typer.Option(help="MQTT client id; unique per worker")] = "offsite-iot",
) -> None:
    """Take sensor messages from the broker into the database until interrupted.

    Start several with different client ids and `iot.share_group` set to split the load.
    """
    from hub.cli import load_or_exit, settings_or_exit
    from hub.counters import CounterSink
    from hub.runtime import Hub
    from iot.ingest import BrokerAddress, SensorIngest

    loaded = load_or_exit(config)
    settings = settings_or_exit()
    url = urlsplit(settings.mqtt_url or loaded.deployment.broker.url)
    broker = BrokerAddress(
        url.hostname or "127.0.0.1", url.port or 1883, settings.mqtt_username, settings.mqtt_password
    )
    hub = Hub.start(loaded, settings)
    ingest = SensorIngest(loaded.deployment, hub.db, broker, client_id=client_id, pipeline=hub.pipeline)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ingest.start()
    console.print(f"iot ingest {client_id} on {url.hostname}:{url.port or 1883}")
    counters = CounterSink("sensors")  # for /metrics, every 10 s and once more at the end
    try:
        while not stop.wait(10):
            s = ingest.stats
            console.print(f"messages {s.messages} readings {s.stored} refused {s.refused} events {s.events}")
            counters.report(hub.db, s.counts(client_id))
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()
        counters.report(hub.db, ingest.stats.counts(client_id))
        hub.close()
