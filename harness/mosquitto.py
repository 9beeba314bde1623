"""Throw-away Mosquitto brokers for the tests, on free ports in temporary folders."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hub.host import free_port

MOSQUITTO = Path("/usr/sbin/mosquitto")
SHIPPED_CONF = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto.conf"


@dataclass
class Broker:
    """A Mosquitto process owned by the test; `stop()` and `start()` keep its port and data."""

    folder: Path
    port: int
    hub_port: int | None = None  # the hub's own listener, where the shipped configuration has one
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


def start_shipped_broker(files: Path) -> Broker:
    """Mosquitto on `deploy/mosquitto.conf` as shipped, reading the files `offsite iot acl` wrote
    into `files`, and run as in production: as root it drops to user mosquitto (its default).

    Only the ports (free ones on 127.0.0.1) and the folders are changed; device listener first.
    """
    folder = Path(tempfile.mkdtemp(prefix="offsite-mqtt-"))
    data = folder / "data"
    data.mkdir()
    if os.geteuid() == 0:  # the broker's user must reach its config and write its data
        folder.chmod(0o755)
        account = pwd.getpwnam("mosquitto")
        os.chown(data, account.pw_uid, account.pw_gid)
    ports: list[int] = []

    def listener(match: re.Match[str]) -> str:
        ports.append(free_port())
        return f"listener {ports[-1]} 127.0.0.1"

    text = re.sub(r"^listener \d+$", listener, SHIPPED_CONF.read_text(), flags=re.MULTILINE)
    text = text.replace("/mosquitto/config/", f"{files}/").replace("/mosquitto/data/", f"{data}/")
    (folder / "mosquitto.conf").write_text(text)
    broker = Broker(folder, ports[0], ports[1] if len(ports) > 1 else None)
    broker.start()
    return broker
