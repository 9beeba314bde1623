"""Serving the API beside `offsite up`: on a thread of the hub's process, or as one of several worker
processes that share one port (``offsite.supervision`` starts and replaces them).

With several workers each process binds the port with ``SO_REUSEPORT`` and the kernel spreads
new connections across them; a socket shared by all of them instead lets whichever wakes first
take every connection of a burst (measured: 20 keep-alive clients all on one worker). A worker
whose hub has gone (its stdin closes) stops by itself. Run as ``python -m api.serving``, this
module is one worker; it reports READY (or what failed) on the pipe it is handed.

Imports stay inside functions: a worker must set up prometheus_client's multiprocess mode before
anything imports prometheus_client.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import sys
import threading
import time
from contextlib import closing, nullcontext
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
        check_port_free(self.host, self.port)
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


def check_port_free(host: str, port: int) -> None:
    """CannotServe naming the reason when `host`:`port` cannot be bound now."""
    # Workers share the port only with each other: a port some other program holds is an
    # error here, not a silent share (SO_REUSEPORT would join any socket of the same user).
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CannotServe(f"cannot serve the API on {host}:{port}: {exc.strerror}") from None


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
