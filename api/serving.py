"""Serving the API beside `offsite up`: on a thread of the hub's process, or in worker processes of
its own that share one port.

With several workers each process binds the port with ``SO_REUSEPORT`` and the kernel spreads
new connections across them; a socket shared by all of them instead lets whichever wakes first
take every connection of a burst (measured: 20 keep-alive clients all on one worker). The hub's
process supervises: it replaces a worker that dies, and a worker whose hub has gone (its stdin
closes) stops by itself. Run as ``python -m api.serving``, this module is one worker.

Imports stay inside functions: a worker must set up prometheus_client's multiprocess mode before
anything imports prometheus_client.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from hub.runtime import Hub

log = logging.getLogger(__name__)

READY = "ready"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
MAX_RESTART_DELAY = 30.0


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` as given to ``--api``, or ValueError saying what is expected."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--api {address!r}: expected HOST:PORT, e.g. 127.0.0.1:8000")
    return host, int(port)


def _uvicorn_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=3, log_level="warning")
    return uvicorn.Server(config)


def _tune_collector() -> None:
    # What the process built at start-up stays for good, so the collector stops walking it,
    # and young objects are collected less often: p99 of the alert list 100-115 -> 65-72 ms,
    # p95 and throughput unchanged (BENCHMARKS.md).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class ApiServer:
    """The API served by uvicorn on a thread beside the hub's upkeep loop."""

    def __init__(self, hub: Hub, address: str) -> None:
        from api.app import create_app

        self.host, self.port = parse_address(address)
        self.server = _uvicorn_server(create_app(lambda: nullcontext(hub)), self.host, self.port)
        self.thread = threading.Thread(target=self.server.run, name="offsite-api", daemon=True)

    def start(self) -> None:
        """Serve, and return once the API answers; CannotServe if it does not come up."""
        _check_port_free(self.host, self.port)
        _tune_collector()
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            self.stop()
            raise CannotServe(f"the API on {self.host}:{self.port} did not start (see the log above)")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=STOP_TIMEOUT)


class CannotServe(RuntimeError):
    """The API did not come up; the message says why."""


def _check_port_free(host: str, port: int) -> None:
    # Workers share the port only with each other: a port some other program holds is an
    # error here, not a silent share (SO_REUSEPORT would join any socket of the same user).
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CannotServe(f"cannot serve the API on {host}:{port}: {exc.strerror}") from None


@dataclass
class _Slot:
    """One worker place: the process now filling it and how often it failed in a row."""

    number: int
    process: subprocess.Popen[bytes] | None = None
    failures: int = 0
    retry_at: float = 0.0


class ApiWorkers:
    """The API in `count` processes of their own on one port, replaced when one dies.

    Each worker joins the hub's database (its own pool of the configured size) and counts its
    requests into a shared folder, so that ``/metrics``, whichever worker answers it, adds all of
    them up. Tokens are cached per worker and dropped in every one of them on revocation.
    """

    def __init__(self, hub: Hub, address: str, count: int) -> None:
        self.host, self.port = parse_address(address)
        self.address = address
        self.slots = [_Slot(n) for n in range(count)]
        self.folder = Path(tempfile.mkdtemp(prefix="offsite-api-"))
        (self.folder / "metrics").mkdir()
        self.config = self.folder / "deployment.yaml"
        self.config.write_text(hub.config.text, encoding="utf-8")
        self.env = {
            **os.environ,
            "OFFSITE_DATABASE_URL": hub.db.dsn,
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "metrics"),
        }
        self.stopping = threading.Event()
        self.monitor = threading.Thread(target=self._watch, name="offsite-api-workers", daemon=True)

    def start(self) -> None:
        """Start every worker and wait until each serves; CannotServe (all stopped) if one does not."""
        try:
            _check_port_free(self.host, self.port)
            launched = [(slot, self._launch(slot)) for slot in self.slots]
            for slot, ready in launched:
                self._await_ready(slot, ready, START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.monitor.start()

    def stop(self) -> None:
        """Ask every worker to finish its requests and stop; kill those that do not in time."""
        self.stopping.set()
        if self.monitor.is_alive():
            self.monitor.join()
        running = [s.process for s in self.slots if s.process is not None and s.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for slot in self.slots:
            if slot.process is not None and slot.process.stdin is not None:
                slot.process.stdin.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _launch(self, slot: _Slot) -> IO[bytes]:
        """Start the worker for `slot`; the pipe it reports its start-up on."""
        read_fd, write_fd = os.pipe()
        command = [sys.executable, "-m", "api.serving", self.address, str(self.config), str(write_fd)]
        try:
            slot.process = subprocess.Popen(
                command,
                env=self.env,
                stdin=subprocess.PIPE,  # closed when the hub's process ends, however it ends
                pass_fds=(write_fd,),
                start_new_session=True,  # Ctrl-C reaches the hub, which stops the workers in order
            )
        finally:
            os.close(write_fd)
        return os.fdopen(read_fd, "rb")

    def _await_ready(self, slot: _Slot, ready: IO[bytes], timeout: float) -> None:
        assert slot.process is not None
        said = ""
        deadline = time.monotonic() + timeout
        with ready:
            while not said and time.monotonic() < deadline and not self.stopping.is_set():
                if select.select([ready], [], [], 0.2)[0]:
                    said = ready.readline().decode("utf-8", "replace").strip() or "exited"
        if said == READY:
            return
        if said == "exited" or not said:
            try:
                said = f"exited with code {slot.process.wait(timeout=0 if not said else 5)}"
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait()
                late = f"not serving after {timeout:.0f} s"
                said = "stopped while starting" if self.stopping.is_set() else late
        raise CannotServe(f"API worker {slot.number} on {self.address}: {said}")

    def _watch(self) -> None:
        """Replace workers that died, waiting longer after each failure in a row."""
        while not self.stopping.wait(0.5):
            for slot in self.slots:
                if self.stopping.is_set():
                    return
                process = slot.process
                if process is None or process.poll() is None or time.monotonic() < slot.retry_at:
                    continue
                log.warning(
                    "API worker %d (pid %d) exited with code %s; starting another",
                    slot.number,
                    process.pid,
                    process.returncode,
                )
                if process.stdin is not None:
                    process.stdin.close()
                try:
                    self._await_ready(slot, self._launch(slot), START_TIMEOUT)
                    slot.failures = 0
                except (CannotServe, OSError) as exc:
                    if self.stopping.is_set():
                        return
                    slot.failures += 1
                    delay = min(MAX_RESTART_DELAY, 2.0**slot.failures)
                    slot.retry_at = time.monotonic() + delay
                    log.error("%s; trying again in %.0f s", exc, delay)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _shared_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _serve_worker(address: str, config_path: Path, ready: IO[str]) -> int:
    """One worker: join the hub, listen on the shared port, serve until told to stop."""
    from api.app import create_app
    from hub.config import Settings
    from hub.config.loader import load_config
    from hub.runtime import Hub

    try:
        host, port = parse_address(address)
        loaded = load_config(config_path)
        settings = Settings()
        if settings.database_url is None:
            raise ValueError("OFFSITE_DATABASE_URL is not set (the hub sets it for its workers)")
        hub = Hub.attach(loaded, settings.database_url, pool_size=settings.pool_size)
    except Exception as exc:
        ready.write(f"{exc}\n")
        return 1
    with closing(hub):
        try:
            sock = _shared_socket(host, port)
        except OSError as exc:
            ready.write(f"cannot listen on {address}: {exc.strerror}\n")
            return 1
        server = _uvicorn_server(create_app(lambda: nullcontext(hub)), host, port)

        def report_ready() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.02)
            if server.started:
                ready.write(f"{READY}\n")
            ready.close()

        def stop_with_hub() -> None:
            sys.stdin.buffer.read()  # returns at EOF: the hub's process closed the pipe or died
            server.should_exit = True

        threading.Thread(target=report_ready, name="ready", daemon=True).start()
        threading.Thread(target=stop_with_hub, name="hub-watch", daemon=True).start()
        _tune_collector()
        server.run(sockets=[sock])
    return 0 if server.started else 3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One API worker process (started by `offsite up`).")
    parser.add_argument("address", help="HOST:PORT shared with the other workers")
    parser.add_argument("config", type=Path, help="the deployment file the hub runs")
    parser.add_argument("ready_fd", type=int, help="a pipe to report `ready` or what failed on")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with os.fdopen(args.ready_fd, "w", buffering=1, encoding="utf-8") as ready:
        code = _serve_worker(args.address, args.config, ready)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
