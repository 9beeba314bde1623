"""The `offsite` command line: every group of commands (offsite/commands/), the demo and `up`.

Imports inside commands are deferred for start-up time: `offsite --help` does not load FastAPI,
PyAV or onnxruntime.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from offsite.commands import access, audit, config, dataset, db, edge, iot, stats, vision
from offsite.startup import err, from_env_or_exit, load_or_exit, reachable_or_exit, settings_or_exit

app = typer.Typer(help="offsite: video and IoT non-site supervision hub.", no_args_is_help=True)
app.add_typer(config.app, name="config")
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(access.token_app, name="token")
app.add_typer(access.user_app, name="user")
app.add_typer(iot.app, name="iot")
app.add_typer(vision.app, name="vision")
app.add_typer(dataset.app, name="dataset")
app.command("edge")(edge.run)
app.command("stats")(stats.run)

console = Console(soft_wrap=True)

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")]


@app.command()
def demo(
    config: ConfigOption = DEMO_CONFIG,
    serve: Annotated[
        bool, typer.Option(help="Serve the dashboard on the demo's data until Ctrl-C; --no-serve exits")
    ] = True,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port on 127.0.0.1 (default: a free one)")
    ] = None,
) -> None:
    """Run the demo on embedded defaults, print the records it created and serve the dashboard."""
    from api.serving import CannotServe, check_port_free
    from offsite import demo as demo_module

    loaded = load_or_exit(config)
    # Piped output gets rich's 80-column default, too narrow for the record tables.
    out = console if console.is_terminal else Console(soft_wrap=True, width=150)
    serving = demo_module.Serving(serve=serve, port=port)
    try:
        if serve and port is not None:  # said now, not after the scenario's half minute
            check_port_free("127.0.0.1", port)
        code = demo_module.run(loaded, settings_or_exit(), out, serving)
    except CannotServe as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    raise typer.Exit(code)


@app.command()
def up(
    config: ConfigOption,
    upkeep_every: Annotated[float, typer.Option(help="Seconds between upkeep rounds")] = 60.0,
    api: Annotated[str | None, typer.Option(help="Serve the API on HOST:PORT")] = None,
    api_workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="API processes sharing the port (default OFFSITE_API_WORKERS, else 1: a thread of"
            " this process); about one per core",
        ),
    ] = None,
    delivery_workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=16,
            help="Processes delivering the outbox (default OFFSITE_DELIVERY_WORKERS, else 1)",
        ),
    ] = None,
) -> None:
    """Run the hub on a deployment file until interrupted."""
    from api.serving import ApiServer, CannotServe, parse_address
    from api.settings import ApiSettings
    from hub.delivery import OutputError, destinations
    from hub.runtime import Hub
    from offsite.delivering import DeliverySettings, DeliveryWorkers
    from offsite.supervision import ApiWorkers

    loaded = load_or_exit(config)
    try:
        destinations(loaded.deployment)  # said now, not by each delivery process
    except OutputError as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    if api is not None:
        try:
            parse_address(api)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    workers = api_workers or from_env_or_exit(ApiSettings).workers
    senders = delivery_workers or from_env_or_exit(DeliverySettings).workers
    settings = settings_or_exit()
    reachable_or_exit(settings)
    hub = Hub.start(loaded, settings)
    server: ApiServer | ApiWorkers | None = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # The outbox's delivery in processes of its own, off the intake's interpreter; other `up`
    # processes on the database share the work.
    delivering = DeliveryWorkers(hub.config.text, hub.db.dsn, senders)
    try:
        delivering.start()
        if api is not None:
            server = ApiServer(hub, api) if workers == 1 else ApiWorkers(hub, api, workers)
            server.start()
            console.print(f"API on http://{api}" + (f" ({workers} processes)" if workers > 1 else ""))
        console.print(f"offsite hub up: {loaded.deployment.name}; {hub.backend.describe()}")
        while not stop.is_set():
            done = hub.upkeep()
            if done.auto_closed:
                console.print(f"auto-closed alerts {done.auto_closed}")
            stop.wait(upkeep_every)
    except CannotServe as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        delivering.stop()
        if server is not None:
            server.stop()
        hub.close()
        console.print("offsite hub stopped")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
