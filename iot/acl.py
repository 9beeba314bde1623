"""Mosquitto password and ACL files from the device registry: a device publishes only its own topics.

Each sensor and gateway gets its own user. Existing passwords are kept (a device keeps working
across runs); a new device gets a random password, written once to a file readable only by the
administrator, for provisioning. The hub's own password comes from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from hub.config import Deployment
from iot.payloads import subscription

ITERATIONS = 101  # Mosquitto 2's own default for PBKDF2-SHA512 ($7$) hashes


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2 password-file hash: ``$7$iterations$salt$hash`` (PBKDF2-HMAC-SHA512)."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, dklen=64)
    return f"$7${ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class Device:
    user: str
    topic: str  # the one topic it may publish to


def devices(deployment: Deployment) -> list[Device]:
    """Every sensor and gateway with the topic its template gives it."""
    iot = deployment.iot
    out = [
        Device(f"sensor-{s.id}", iot.sensor_topic.format(site=s.site, sensor=s.id))
        for s in deployment.sensors
    ]
    out += [
        Device(f"gateway-{g.id}", iot.gateway_topic.format(site=g.site, gateway=g.id))
        for g in deployment.gateways
    ]
    return out


def _read_passwd(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    entries = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            user, hashed = line.split(":", 1)
            entries[user] = hashed
    return entries


def write_acl(deployment: Deployment, folder: Path, hub_user: str, hub_password: str) -> list[str]:
    """Write ``passwd``, ``acl`` and, for new devices, ``new-credentials.txt``. Returns new users."""
    folder.mkdir(parents=True, exist_ok=True)
    passwd = folder / "passwd"
    existing = _read_passwd(passwd)
    entries = {hub_user: hash_password(hub_password)}
    fresh: list[tuple[str, str]] = []
    for device in devices(deployment):
        if device.user in existing:
            entries[device.user] = existing[device.user]
        else:
            password = secrets.token_urlsafe(18)
            entries[device.user] = hash_password(password)
            fresh.append((device.user, password))
    _write_private(passwd, "".join(f"{user}:{hashed}\n" for user, hashed in entries.items()))

    telemetry = [subscription(deployment.iot.sensor_topic), subscription(deployment.iot.gateway_topic)]
    lines = [f"# written by offsite iot acl for {deployment.name}; edit the deployment, not this file", ""]
    lines += [f"user {hub_user}", *(f"topic read {t}" for t in telemetry), ""]
    for device in devices(deployment):
        lines += [f"user {device.user}", f"topic write {device.topic}", ""]
    (folder / "acl").write_text("\n".join(lines))
    if fresh:
        body = "".join(f"{user} {password}\n" for user, password in fresh)
        _write_private(folder / "new-credentials.txt", body)
    return [user for user, _ in fresh]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
