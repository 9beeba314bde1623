"""The `offsite` command line."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console

from hub.config import ConfigError, LoadedConfig, Settings, load_config
from offsite.commands.access import config_export, token_app, user_app
from offsite.commands.iot import app as iot_app
from offsite.commands.vision import app as vision_app

if TYPE_CHECKING:
    from hub.store.db import Database

app = typer.Typer(help="offsite: video and IoT non-site supervision hub.", no_args_is_help=True)
config_app = typer.Typer(help="Deployment files.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
config_app.command("export")(config_export)
app.add_typer(iot_app, name="iot")
app.add_typer(vision_app, name="vision")

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
S = TypeVar("S", bound=BaseSettings)
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Deployment YAML file")]


def settings_or_exit() -> Settings:
    """Settings from the environment, or exit 2 naming what is wrong with them."""
    return from_env_or_exit(Settings)


def from_env_or_exit(kind: type[S]) -> S:
    """`kind` of settings read from the environment, or exit 2 naming what is wrong with them."""
    try:
        return kind()
    except ValidationError as exc:
        for item in exc.errors(include_url=False):
            err.print(f"[red]environment[/]: {item['msg'].removeprefix('Value error, ')}")
        raise typer.Exit(2) from None


def load_or_exit(path: Path) -> LoadedConfig:
    """The deployment file, or exit 1 after printing every problem in it."""
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"{exc.source}: {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None


def _where(settings: Settings) -> str:
    """The database a command uses, for messages: the DSN's server and name, never its password."""
    if settings.database_url is None:
        return f"embedded server in {settings.data_dir / 'pg'}"
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(settings.database_url)
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def open_or_exit(settings: Settings, pool_size: int = 1) -> Database:
    """The configured database, or exit 1 with one line naming it and what went wrong."""
    from hub.store.db import open_database

    reachable_or_exit(settings)
    try:
        return open_database(settings.database_url, settings.data_dir, pool_size=pool_size)
    except Exception as exc:  # a server that would not start, one that went away just now
        _unreachable(settings, exc)


def reachable_or_exit(settings: Settings) -> None:
    """Exit 1 with one line when the configured DSN does not answer: one try, where the pool would
    retry for 30 s and log every failure. The embedded server is tried when it is started."""
    import psycopg

    if settings.database_url is None:
        return
    try:
        psycopg.connect(settings.database_url, connect_timeout=10).close()
    except psycopg.Error as exc:
        _unreachable(settings, exc)


def _unreachable(settings: Settings, exc: Exception) -> NoReturn:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    err.print(f"[red]database unreachable[/] ({_where(settings)}): {detail}", highlight=False)
    raise typer.Exit(1) from None


def database_or_exit(pool_size: int = 1) -> Database:
    """The configured database with its schema current, or exit 1 with one line saying why not.

    A command run before `offsite up` (a fresh data folder) finds no tables: it applies the
    migrations itself, as `up` does, and says so on stderr, since stdout may be a token that a
    script reads."""
    from hub.store.migrate import upgrade

    settings = settings_or_exit()
    db = open_or_exit(settings, pool_size)
    try:
        applied, _ = upgrade(db)
    except Exception as exc:
        db.close()
        err.print(f"[red]cannot bring the schema up to date[/] ({_where(settings)}): {exc}", highlight=False)
        raise typer.Exit(1) from None
    if applied:
        err.print(f"{_where(settings)}: schema set up ({len(applied)} migrations applied)", highlight=False)
    return db


@config_app.command("check")
def config_check(files: Annotated[list[Path], typer.Argument(help="Deployment files to check")]) -> None:
    """Report every problem in each file with its path and line; exit 1 if any file has one."""
    failed = False
    for path in files:
        try:
            load_config(path)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                console.print(f"{path}: {problem}", markup=False, highlight=False)
        else:
            console.print(f"{path}: ok", markup=False, highlight=False)
    raise typer.Exit(1 if failed else 0)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations (idempotent) and set up TimescaleDB where available."""
    from hub.store.migrate import upgrade

    db = open_or_exit(settings_or_exit(), pool_size=2)
    try:
        applied, backend = upgrade(db)
    finally:
        db.close()
    for migration in applied:
        console.print(f"applied {migration.version:04d}_{migration.name}")
    console.print(f"schema is current; {backend.describe()}")


@db_app.command("status")
def db_status() -> None:
    """Say whether the database answers and its schema is current; exit 1 otherwise (healthchecks)."""
    from hub.store.migrate import migrations, pending_migrations
    from hub.store.timeseries import detect_backend

    db = open_or_exit(settings_or_exit())
    try:
        with db.transaction() as conn:
            pending = pending_migrations(conn)
            backend = detect_backend(conn)
    finally:
        db.close()
    if pending:
        console.print(f"[red]schema behind[/]: {len(pending)} pending migration(s); run offsite db upgrade")
        raise typer.Exit(1)
    console.print(f"schema current ({len(migrations())} migrations); {backend.describe()}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; name the first altered entry. Exit 1 when it is broken."""
    from hub import audit

    db = database_or_exit()
    try:
        with db.transaction() as conn:
            report = audit.verify(conn)
    finally:
        db.close()
    if report.intact:
        console.print(f"audit trail intact: {report.entries} entries")
        return
    console.print(f"[red]audit trail broken[/]: {report.reason}")
    raise typer.Exit(1)


@app.command()
def demo(config: ConfigOption = DEMO_CONFIG) -> None:
    """Run the demo on embedded defaults and print the records it created."""
    from offsite import demo as demo_module

    loaded = load_or_exit(config)
    # Piped output gets rich's 80-column default, too narrow for the record tables.
    out = console if console.is_terminal else Console(soft_wrap=True, width=150)
    raise typer.Exit(demo_module.run(loaded, settings_or_exit(), out))


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
) -> None:
    """Run the hub on a deployment file until interrupted."""
    from api.serving import ApiServer, CannotServe, parse_address
    from api.settings import ApiSettings
    from hub.runtime import Hub
    from offsite.supervision import ApiWorkers

    loaded = load_or_exit(config)
    if api is not None:
        try:
            parse_address(api)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    workers = api_workers or from_env_or_exit(ApiSettings).workers
    settings = settings_or_exit()
    reachable_or_exit(settings)
    hub = Hub.start(loaded, settings)
    server: ApiServer | ApiWorkers | None = None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
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
        if server is not None:
            server.stop()
        hub.close()
        console.print("offsite hub stopped")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
