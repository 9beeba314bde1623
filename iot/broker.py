"""An in-process MQTT broker (amqtt) for the demo: nothing to install, bound to 127.0.0.1 only.

It handles a few thousand messages a second, which is plenty for a demo; production uses
Mosquitto or EMQX.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from hub.host import free_port


class EmbeddedBroker:
    """amqtt running on its own event loop in a background thread."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mqtt-broker", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the embedded MQTT broker did not start")
        if self._error is not None:
            raise RuntimeError(f"the embedded MQTT broker failed: {self._error}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        from amqtt.broker import Broker

        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        broker = Broker(config)
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        await broker.start()
        self._ready.set()
        await self._stopped.wait()
        await broker.shutdown()
