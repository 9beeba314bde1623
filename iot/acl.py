"""Mosquitto password and ACL files from the device registry: a device publishes only its own topics.

Each sensor and gateway gets its own user. Existing passwords are kept (a device keeps working
across runs); a new device gets a random password, written once to a file readable only by the
administrator, for provisioning. The hub's own password comes from the environment.

Devices and the hub log in on different listeners (deploy/mosquitto.conf): `passwd` for the
devices' listener, where Mosquitto makes a client's id its user name (`use_username_as_clientid`),
so a device's login can never take over another client's session; `hub-passwd` for the hub's
listener, where only the hub logs in and its workers choose their own ids. Mosquitto reads the
password files after dropping to its user, so they belong to that user (mode 0640).
"""

from __future__ import annotations

import base64
import grp
import hashlib
import os
import pwd
import secrets
from dataclasses import dataclass
from pathlib import Path

from hub.config import Deployment
from iot.payloads import subscription

ITERATIONS = 101  # Mosquitto 2's own default for PBKDF2-SHA512 ($7$) hashes
BROKER_USER = "mosquitto"  # the user Debian's and the Docker image's Mosquitto runs as
DEVICE_PREFIXES = ("sensor-", "gateway-")


class AclError(Exception):
    """The files cannot be written as asked; the message says why."""


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


def write_acl(
    deployment: Deployment, folder: Path, hub_user: str, hub_password: str, *, owner: str | None = None
) -> list[str]:
    """Write ``passwd``, ``hub-passwd``, ``acl`` and, for new devices, ``new-credentials.txt``.

    `owner` (``USER[:GROUP]``, names or ids) receives the password files; None: the caller keeps
    them, mode 0600. Returns the new device users.
    """
    if hub_user.startswith(DEVICE_PREFIXES):
        raise AclError(f"hub user {hub_user!r} begins like a device's user name (sensor-, gateway-)")
    folder.mkdir(parents=True, exist_ok=True)
    existing = _read_passwd(folder / "passwd")
    entries: dict[str, str] = {}
    fresh: list[tuple[str, str]] = []
    for device in devices(deployment):
        if device.user in existing:
            entries[device.user] = existing[device.user]
        else:
            password = secrets.token_urlsafe(18)
            entries[device.user] = hash_password(password)
            fresh.append((device.user, password))
    ids = _owner_ids(owner)
    _write_private(folder / "passwd", "".join(f"{user}:{hashed}\n" for user, hashed in entries.items()), ids)
    _write_private(folder / "hub-passwd", f"{hub_user}:{hash_password(hub_password)}\n", ids)
    (folder / "acl").write_text(_acl(deployment, hub_user))
    if fresh:
        body = "".join(f"{user} {password}\n" for user, password in fresh)
        _write_private(folder / "new-credentials.txt", body, None)
    return [user for user, _ in fresh]


def _acl(deployment: Deployment, hub_user: str) -> str:
    telemetry = [subscription(deployment.iot.sensor_topic), subscription(deployment.iot.gateway_topic)]
    lines = [f"# written by offsite iot acl for {deployment.name}; edit the deployment, not this file", ""]
    lines += [f"user {hub_user}", *(f"topic read {t}" for t in telemetry), ""]
    for device in devices(deployment):
        lines += [f"user {device.user}", f"topic write {device.topic}", ""]
    return "\n".join(lines)


def default_owner() -> str | None:
    """The broker's user when we are root and it exists (Debian's package); else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(BROKER_USER)
    except KeyError:
        return None
    return BROKER_USER


def _owner_ids(owner: str | None) -> tuple[int, int] | None:
    """``USER[:GROUP]`` as (uid, gid); the group defaults to the user's own, or the same id."""
    if owner is None:
        return None
    user, _, group = owner.partition(":")
    try:
        uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
        else:
            gid = pwd.getpwuid(uid).pw_gid if not user.isdigit() else uid
    except KeyError as exc:
        raise AclError(f"--owner {owner!r}: no such user or group on this machine") from exc
    return uid, gid


def _write_private(path: Path, text: str, owner: tuple[int, int] | None) -> None:
    """Write `text` readable by the caller only, or by `owner` (user, and group: mode 0640)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        if owner is not None:
            try:
                os.fchown(fd, *owner)
            except PermissionError as exc:
                raise AclError(
                    f"cannot give {path} to uid {owner[0]}: run as root, or without --owner"
                ) from exc
            os.fchmod(fd, 0o640)
        out.write(text)
