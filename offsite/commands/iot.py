"""`offsite iot ...`: broker credentials from the registry, and the ingest worker."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from offsite.startup import load_or_exit, settings_or_exit

app = typer.Typer(help="Sensors over MQTT.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("acl")
def acl(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    out: Annotated[
        Path, typer.Option(help="Folder for passwd, hub-passwd, acl and new-credentials.txt")
    ] = Path("deploy"),
    owner: Annotated[
        str | None,
        typer.Option(
            help="USER[:GROUP] (names or ids) who runs Mosquitto: passwd and hub-passwd become theirs,"
            " mode 0640. Default as root: mosquitto when that user exists; 1883 for the Docker image",
        ),
    ] = None,
) -> None:
    """Write Mosquitto password and ACL files so each device may publish only its own topics.

    `passwd` holds the devices (the listener where a client's id is its user name, so no login can
    take over another's session), `hub-passwd` the hub (its own listener); see deploy/mosquitto.conf.
    The hub's user and password come from OFFSITE_MQTT_USERNAME and OFFSITE_MQTT_PASSWORD.
    """
    from iot.acl import AclError, default_owner, write_acl

    loaded = load_or_exit(config)
    user = os.environ.get("OFFSITE_MQTT_USERNAME", "hub")
    password = os.environ.get("OFFSITE_MQTT_PASSWORD")
    if not password:
        console.print("[red]set OFFSITE_MQTT_PASSWORD[/] (the hub's broker password)")
        raise typer.Exit(2)
    try:
        fresh = write_acl(loaded.deployment, out, user, password, owner=owner or default_owner())
    except AclError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    console.print(f"wrote {out / 'passwd'}, {out / 'hub-passwd'} and {out / 'acl'}")
    if fresh:
        console.print(f"{len(fresh)} new device(s); their passwords are in {out / 'new-credentials.txt'}")


@app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")],
    client_id: Annotated[
        str | None, typer.Option(help="MQTT client id, unique per worker; default: broker.client_id")
    ] = None,
) -> None:
    """Take sensor messages from the broker into the database until interrupted.

    Start several with `iot.share_group` set to split the load: each adds its host name to
    `broker.client_id`; on one host give each its own --client-id.
    """
    from hub.config.edge import hub_sensors
    from hub.counters import CounterSink
    from hub.runtime import Hub
    from hub.sink import InProcessSink
    from hub.spool import DurableSink
    from iot.intake import BrokerAddress, SensorIngest, client_id_for

    loaded = load_or_exit(config)
    settings = settings_or_exit()
    url = settings.mqtt_url or loaded.deployment.broker.url
    broker = BrokerAddress.from_settings(url, settings)
    hub = Hub.start(loaded, settings)
    name = client_id or client_id_for(loaded.deployment)
    # Rule events wait on disk while the database is away; delivered in order once it is back.
    spool = DurableSink(settings.data_dir / "spool" / f"iot-{name}.sqlite", InProcessSink.of(hub, "iot"))
    # Sensors an edge box takes (`sites[].sensors_at_edge`) are the box's to judge, not this ingest's.
    ingest = SensorIngest(hub_sensors(loaded.deployment), hub.db, broker, client_id=name, sink=spool)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ingest.start()
    console.print(f"iot ingest {ingest.client_id} on {broker.host}:{broker.port}{' (TLS)' * broker.tls}")
    counters = CounterSink("sensors")  # for /metrics, every 10 s and once more at the end
    try:
        while not stop.wait(10):
            s = ingest.stats
            console.print(
                f"messages {s.messages} readings {s.stored} refused {s.refused} events {s.events}"
                f" spooled {spool.depth()} (oldest {spool.age():.0f} s)"
            )
            counters.report(hub.db, {**s.counts(name), **spool.counts(name)})
    except KeyboardInterrupt:
        pass
    finally:
        ingest.stop()
        counters.report(hub.db, {**ingest.stats.counts(name), **spool.counts(name)})
        spool.close()
        hub.close()
