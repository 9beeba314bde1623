"""What every command needs before it starts: the settings, the deployment file, the database with
its schema current; or an exit naming what is wrong and where.

Imports inside functions are deferred for start-up time: `offsite --help` and `config check` do not
load psycopg.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from rich.console import Console

from hub.config import ConfigError, LoadedConfig, Settings, load_config

if TYPE_CHECKING:
    from hub.store.db import Connection, Database

err = Console(stderr=True, soft_wrap=True)
S = TypeVar("S", bound=BaseSettings)


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


@contextmanager
def transaction_or_exit() -> Iterator[Connection]:
    """One transaction on the configured database, for a command that does one thing."""
    db = database_or_exit()
    try:
        with db.transaction() as conn:
            yield conn
    finally:
        db.close()
