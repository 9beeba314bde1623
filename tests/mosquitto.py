"""Throw-away Mosquitto brokers for the tests, on free ports in temporary folders."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MOSQUITTO = Path("/usr/sbin/mosquitto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Broker:
    """A Mosquitto process owned by the test; `stop()` and `start()` keep its port and data."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def conf(self) -> Path:
        return self.folder / "mosquitto.conf"

    def start(self) -> None:
        if not MOSQUITTO.is_file():
            raise RuntimeError("Mosquitto is not installed: run scripts/install-services.sh")
        log = (self.folder / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([str(MOSQUITTO), "-c", str(self.conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.folder / "mosquitto.log").read_text()[-2000:]
                raise RuntimeError(f"mosquitto exited:\n{log_text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        """Stop gracefully, so that the broker saves its persistent sessions."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_broker(settings: str = "", *, anonymous: bool = True) -> Broker:
    """Start Mosquitto with persistence on; `settings` are extra lines for its config."""
    folder = Path(tempfile.mkdtemp(prefix="offsite-mqtt-"))
    port = free_port()
    user = "user root\n" if os.geteuid() == 0 else ""
    (folder / "mosquitto.conf").write_text(
        f"{user}listener {port} 127.0.0.1\n"
        f"allow_anonymous {'true' if anonymous else 'false'}\n"
        f"persistence true\npersistence_location {folder}/\n"
        "max_queued_messages 0\nmax_inflight_messages 0\n"
        f"{settings}\n"
    )
    broker = Broker(folder, port)
    broker.start()
    return broker
