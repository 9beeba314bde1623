"""Throw-away PostgreSQL 15 servers for the test suite.

Uses the Debian PostgreSQL 15 binaries (initdb, pg_ctl) and, by default, preloads
TimescaleDB. Install both with ``scripts/install-services.sh``.

    cluster = start_cluster(tmp_path)
    try:
        ...  # connect to cluster.dsn
    finally:
        cluster.remove()
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from hub.host import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICE_USER = "postgres"
START_TIMEOUT_S = 30
_PORT_ATTEMPTS = 5
_CONF_NAME = "offsite_test.conf"


@dataclass
class PgCluster:
    """A PostgreSQL server owned by the test run, listening on 127.0.0.1 only."""

    datadir: Path
    port: int
    dsn: str  # postgresql://postgres@127.0.0.1:PORT/postgres
    logfile: Path
    # Folder that holds datadir and logfile; deleted by remove().
    root: Path = field(repr=False)

    def start(self) -> None:
        """(Re)start the initialised cluster on the same port; no-op when running."""
        if self.is_running():
            return
        result = _pg(
            "pg_ctl",
            "-D", str(self.datadir),
            "-l", str(self.logfile),
            "-w", "-t", str(START_TIMEOUT_S),
            "start",
            cwd=self.root,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL failed to start on port {self.port} "
                f"(pg_ctl exit {result.returncode}).\n"
                f"{result.stdout}{result.stderr}\n"
                f"--- last lines of {self.logfile} ---\n{_tail(self.logfile)}"
            )

    def stop(self) -> None:
        """Fast shutdown; safe to call when already stopped (or twice)."""
        if not self.datadir.is_dir() or not self.is_running():
            return
        result = _pg(
            "pg_ctl",
            "-D", str(self.datadir),
            "-m", "fast",
            "-w", "-t", str(START_TIMEOUT_S),
            "stop",
            cwd=self.root,
        )  # fmt: skip
        if result.returncode != 0 and self.is_running():
            raise RuntimeError(f"PostgreSQL on port {self.port} did not stop: {result.stdout}{result.stderr}")

    def remove(self) -> None:
        """Stop the server and delete its data directory and log."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def is_running(self) -> bool:
        # pg_ctl status: 0 = running, 3 = not running, 4 = no/invalid data dir.
        return _pg("pg_ctl", "-D", str(self.datadir), "status", cwd=self.root).returncode == 0

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


def start_cluster(base: Path, *, timescaledb: bool = True) -> PgCluster:
    """initdb + start a new cluster; raise RuntimeError when that is not possible.

    ``base`` is the parent folder for the cluster when the tests run as a normal
    user. As root (containers, CI) it is not used; see _make_root().
    """
    if not (PG_BIN / "pg_ctl").is_file():
        raise RuntimeError(
            f"PostgreSQL 15 is not installed ({PG_BIN} is missing): run scripts/install-services.sh"
        )
    if timescaledb and not timescaledb_installed():
        raise RuntimeError("TimescaleDB is not installed: run scripts/install-services.sh")

    root = _make_root(base)
    datadir = root / "data"
    logfile = root / "postgres.log"
    try:
        result = _pg(
            "initdb",
            "-D", str(datadir),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
            "--no-instructions",
            cwd=root,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
        with (datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\ninclude '{_CONF_NAME}'\n")

        last_error: RuntimeError | None = None
        for _ in range(_PORT_ATTEMPTS):
            port = free_port()
            _write_settings(datadir, port=port, timescaledb=timescaledb)
            cluster = PgCluster(
                datadir=datadir,
                port=port,
                dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres",
                logfile=logfile,
                root=root,
            )
            try:
                cluster.start()
                return cluster
            except RuntimeError as err:
                # Another process may have taken the port between probe and bind.
                if "could not bind" not in str(err) and "already in use" not in str(err):
                    raise
                last_error = err
        assert last_error is not None
        raise last_error
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def timescaledb_installed() -> bool:
    """True when timescaledb.so and its control file are in PostgreSQL 15's dirs."""
    pg_config = PG_BIN / "pg_config"
    if not pg_config.is_file():
        return False
    out = subprocess.run(
        [str(pg_config), "--pkglibdir", "--sharedir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    pkglibdir, sharedir = Path(out[0]), Path(out[1])
    return (pkglibdir / "timescaledb.so").is_file() and (
        sharedir / "extension" / "timescaledb.control"
    ).is_file()


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _make_root(base: Path) -> Path:
    """Create the folder that will hold the data directory and the server log.

    PostgreSQL refuses to run as root, so as root the server runs as the
    ``postgres`` user, which must be able to reach its data directory. pytest's
    tmp dirs live under 0700 root-owned folders (/tmp/pytest-of-root/...), and
    loosening their permissions would be intrusive, so as root we use a fresh
    folder directly in the system temp dir (world-traversable /tmp) owned by
    ``postgres`` instead, and ignore ``base``.
    """
    if not _running_as_root():
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="pg-", dir=base))

    try:
        user = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise RuntimeError(
            f"running as root needs the '{SERVICE_USER}' user to run PostgreSQL: "
            "run scripts/install-services.sh"
        ) from None
    root = Path(tempfile.mkdtemp(prefix="offsite-pg-"))
    os.chown(root, user.pw_uid, user.pw_gid)
    if _pg("test", "-w", str(root), cwd=root).returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"the '{SERVICE_USER}' user cannot write to {root}: make the temp dir (TMPDIR) reachable for it"
        )
    return root


def _write_settings(datadir: Path, *, port: int, timescaledb: bool) -> None:
    settings = {
        "port": str(port),
        "listen_addresses": "'127.0.0.1'",
        # TCP only: avoids socket path length limits and permission issues.
        "unix_socket_directories": "''",
        # Throw-away data: trade durability for speed.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    if timescaledb:
        settings["shared_preload_libraries"] = "'timescaledb'"
        settings["timescaledb.telemetry_level"] = "off"
    path = datadir / _CONF_NAME
    path.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()), encoding="utf-8")
    if _running_as_root():
        owner = datadir.stat()
        os.chown(path, owner.st_uid, owner.st_gid)
    path.chmod(0o600)


def _pg(program: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program (or ``test``), as ``postgres`` when we are root.

    ``cwd`` must be readable by that user, or initdb/pg_ctl complain about it.
    """
    exe = str(PG_BIN / program) if (PG_BIN / program).is_file() else program
    cmd = [exe, *args]
    if _running_as_root():
        cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
    # Keep PG* variables of the caller (PGDATA, PGPORT, ...) out of it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        return f"(cannot read log: {err})"
    return "\n".join(text.splitlines()[-lines:])
