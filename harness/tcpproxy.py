"""A TCP proxy of the tests' own between a client and a server, to break the link at will
(`tc netem` is not available here; nor is toxiproxy).

Modes, switched while connections are open:
- ``pass``: bytes flow both ways;
- ``blackhole``: connections are accepted and bytes swallowed, nothing answers (a cut cable, a
  dead 4G router): the client times out;
- ``reset``: every open and new connection is reset (RST), as a restarted NAT or firewall does;
- ``error``: every request is answered ``500 Internal Server Error`` by the proxy, as a failing
  reverse proxy in front of the hub does (the hub itself sees nothing).

In ``pass`` the link may also be degraded (`degraded()`): each chunk from the client waits
`latency` seconds before it is forwarded, and after a share `drop` of them the connection is
reset: the server may have acted on the request, the client never hears its answer (the case
that tests a client's retries for duplicates). The share is drawn from a seeded generator, the
same on every run.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Literal

Mode = Literal["pass", "blackhole", "reset", "error"]
ERROR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class TcpProxy:
    """Listens on a free port of 127.0.0.1 and forwards to `target` (host, port)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode: Mode = "pass"
        self.connections = 0  # accepted so far
        self.latency = 0.0  # seconds each chunk from the client waits before it is forwarded
        self.drop = 0.0  # share of the client's chunks after which the connection is reset
        self.dropped = 0  # connections reset so
        self._draw = random.Random(3)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcpproxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "reset":
            with self._lock:
                for sock in list(self._open):
                    _reset(sock)

    @contextmanager
    def outage(self, mode: Mode) -> Iterator[None]:
        """The link broken as `mode` inside the block, passing again after."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode("pass")

    @contextmanager
    def degraded(self, latency: float, drop: float) -> Iterator[None]:
        """The link slow by `latency` seconds a chunk, a share `drop` of chunks reset, inside the block."""
        self.latency, self.drop = latency, drop
        try:
            yield
        finally:
            self.latency, self.drop = 0.0, 0.0

    def close(self) -> None:
        self._closed.set()
        # close() alone does not wake a thread blocked in accept(); shutdown() does (EINVAL).
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                _reset(sock)
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            if self.mode == "reset":
                _reset(client)
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        with self._lock:
            self._open.add(client)
        try:
            if self.mode == "pass":
                upstream = socket.create_connection(self.target, timeout=5)
                with self._lock:
                    self._open.add(upstream)
            peers = [client] if upstream is None else [client, upstream]
            while not self._closed.is_set():
                readable, _, _ = select.select(peers, [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if self.mode == "error" and sock is client:
                        client.sendall(ERROR)
                        return
                    if self.mode != "pass" or upstream is None:
                        continue  # swallowed: a blackhole answers nothing
                    if sock is not client:
                        client.sendall(data)
                    elif self._degrade():
                        upstream.sendall(data)
                        _reset(client)  # the answer is lost on the way back
                        return
                    else:
                        upstream.sendall(data)
        except (OSError, ValueError):
            return  # reset by us or by a peer
        finally:
            with self._lock:
                for end in (client, upstream):
                    if end is not None:
                        self._open.discard(end)
                        end.close()

    def _degrade(self) -> bool:
        """Wait out the link's latency; whether the connection is to be dropped after this chunk."""
        if self.latency:
            time.sleep(self.latency)  # the link's own slowness, not a test waiting for something
        with self._lock:
            dropped = self.drop > 0 and self._draw.random() < self.drop
            self.dropped += dropped
        return dropped


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: SO_LINGER on, timeout 0."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass
