"""The box's config: its site's part of the deployment, pulled from the hub (`GET /edge/config`
with If-None-Match), checked on the box, kept on disk as the last good version.

The box starts from the hub's newest version, or from the kept one while the hub cannot be
reached. A version the box cannot run (it does not load with this box's software, it names
another site, or a model file this box lacks) is refused: the box keeps running the last good
one and reports why in its heartbeat until the hub serves one it can run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from edge.uplink import HubUplink, Refused
from hub.config import ConfigError, Deployment, LoadedConfig, parse_config
from hub.sink import HubUnavailable
from vision.models import resolve_model

log = logging.getLogger(__name__)

Check = Callable[[Deployment], None]  # raises ValueError (ModelError is one) naming what the box lacks


class NoConfig(Exception):
    """Neither the hub nor the disk has a config this box can run."""


def models_present(deployment: Deployment) -> None:
    """Raise `ModelError` naming the first model the site's cameras use that this box lacks."""
    used = {c.detect.model for c in deployment.cameras if c.enabled and c.detect is not None}
    for model in deployment.vision.models:
        if model.id in used:
            resolve_model(model.path)


class SiteConfig:
    """The config a box runs: `current`, its `version` (SHA-256 of the text, the hub's ETag), and
    `refused`: why the newest version the hub served was not taken ("" when it runs the newest)."""

    def __init__(self, uplink: HubUplink, cache: Path, check: Check = models_present) -> None:
        self.uplink = uplink
        self.cache = cache
        self.check = check
        self.current: LoadedConfig | None = None
        self.refused = ""
        self._refused_version = ""  # not checked again each pull while the hub serves it

    @property
    def version(self) -> str:
        return self.current.sha256 if self.current is not None else ""

    @property
    def site(self) -> str:
        return self.current.deployment.sites[0].id if self.current is not None else ""

    def boot(self) -> LoadedConfig:
        """The config to start on: the hub's newest, else the last good one kept on disk.

        Raises `NoConfig` when the hub has none this box can run and none is kept."""
        kept = self._kept()
        self.current = kept
        try:
            self.pull()
        except (HubUnavailable, Refused) as exc:
            if kept is None:
                why = f"the hub did not answer ({exc}) and no config is kept at {self.cache}"
                raise NoConfig(why) from None
            log.warning("hub unreachable (%s): starting on the kept config %s", exc, kept.sha256[:12])
        if self.current is None:
            raise NoConfig(f"the hub's config was refused and none is kept at {self.cache}: {self.refused}")
        return self.current

    def pull(self) -> LoadedConfig | None:
        """Ask the hub for a newer version: the new config once it passed the checks and was kept;
        None when unchanged or refused. Raises `HubUnavailable` or `Refused` when it did not answer."""
        text = self.uplink.site_config(self.version or None)
        digest = self.version if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest == self.version:  # the hub's newest is what the box runs (again)
            self.refused = self._refused_version = ""
            return None
        if text is None or digest == self._refused_version:
            return None
        try:
            loaded = self._checked(text, digest)
        except (ConfigError, ValueError) as exc:
            self.refused = f"config {digest[:12]} refused, running {self.version[:12] or 'none'}: {exc}"
            self._refused_version = digest
            log.error("%s", self.refused)
            return None
        try:
            _write_atomically(self.cache, text)
        except OSError as exc:  # a full disk: run the new version all the same, kept or not
            log.warning("config %s not kept at %s: %s", digest[:12], self.cache, exc)
        self.current, self.refused, self._refused_version = loaded, "", ""
        log.info("config %s in force", digest[:12])
        return loaded

    def _checked(self, text: str, digest: str) -> LoadedConfig:
        deployment = parse_config(text, f"config {digest[:12]} from the hub")
        sites = [s.id for s in deployment.sites]
        if len(sites) != 1:
            raise ValueError(f"names {len(sites)} sites ({', '.join(sites)}); a box serves one")
        if self.current is not None and sites[0] != self.site:
            raise ValueError(f"is for site {sites[0]}, this box serves {self.site}")
        self.check(deployment)
        return LoadedConfig(deployment, digest, text)

    def _kept(self) -> LoadedConfig | None:
        try:
            text = self.cache.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        try:
            return LoadedConfig(parse_config(text, str(self.cache)), digest, text)
        except ConfigError as exc:  # written by another version of the software
            log.warning("the kept config does not load: %s", exc)
            return None


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that a crash leaves the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
