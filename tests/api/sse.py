"""A Server-Sent Events client for the alert stream, as a dashboard reads it."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Frame:
    id: int
    alert: dict[str, Any]
    op: str


class Subscription:
    """A client reading the stream on a thread; frames arrive in `frames`."""

    def __init__(self) -> None:
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.ready = threading.Event()

    def next(self, timeout: float = 3.0) -> Frame:
        return self.frames.get(timeout=timeout)

    def until(self, alert_id: int, timeout: float = 3.0) -> Frame:
        """The first frame about `alert_id`, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next(max(0.01, deadline - time.monotonic()))
            if frame.alert["id"] == alert_id:
                return frame

    def drain(self, wait: float) -> list[Frame]:
        time.sleep(wait)
        out = []
        while not self.frames.empty():
            out.append(self.frames.get_nowait())
        return out


@contextmanager
def subscribe(client: httpx.Client, last_event_id: int | None = None) -> Iterator[Subscription]:
    """Read `/stream/alerts` with `client` (closed afterwards) on a thread, once it has opened."""
    sub = Subscription()
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    stop = threading.Event()

    def read() -> None:
        frame: dict[str, str] = {}
        try:
            with client.stream(
                "GET", "/stream/alerts", headers=headers, timeout=httpx.Timeout(10, read=None)
            ) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    if stop.is_set():
                        return
                    if line.startswith(":"):
                        sub.ready.set()
                    elif line == "" and "data" in frame:
                        data = json.loads(frame["data"])
                        sub.frames.put(Frame(int(frame["id"]), data["alert"], data["op"]))
                        frame = {}
                    elif ":" in line:
                        key, _, value = line.partition(":")
                        frame[key] = value.lstrip()
        except (httpx.HTTPError, RuntimeError):
            if not stop.is_set():
                raise

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert sub.ready.wait(5), "the stream did not open"
    try:
        yield sub
    finally:
        stop.set()
        client.close()
        thread.join(timeout=5)
