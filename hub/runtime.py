"""A running hub: database, schema, loaded config, pipeline, evidence, and periodic upkeep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hub import audit
from hub.config import LoadedConfig, Settings
from hub.escalation import escalate_overdue
from hub.events import Event
from hub.evidence import EvidenceStore
from hub.pipeline import Pipeline, Taken, utc_now
from hub.statistics import refresh as refresh_statistics
from hub.store import configs
from hub.store.db import Connection, Database, open_database
from hub.store.edge_boxes import watch_silence
from hub.store.migrate import upgrade
from hub.store.rollups import refresh_rollups
from hub.store.timeseries import Backend, apply_retention, compress_old_chunks, detect_backend

log = logging.getLogger(__name__)

ROLLUP_LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True)
class Upkeep:
    """What one round of upkeep did."""

    removed: dict[str, int]
    compressed: int
    rollup_rows: tuple[int, int]
    auto_closed: list[int]


def record_config(conn: Connection, loaded: LoadedConfig, at: datetime) -> bool:
    """Keep the config text under its SHA-256, which records refer to, and make it the one in
    force: what the hub was started with is what it runs, so the API's edits and exports start
    from it. True when the text is new."""
    new = configs.keep(conn, loaded.sha256, loaded.deployment.name, loaded.text, "system:start", at)
    if not new:
        return False
    audit.append(
        conn, "system", "config.load", f"config:{loaded.sha256}", {"name": loaded.deployment.name}, at
    )
    return True


@dataclass
class Hub:
    db: Database
    backend: Backend
    config: LoadedConfig
    pipeline: Pipeline
    evidence: EvidenceStore

    @classmethod
    def start(cls, loaded: LoadedConfig, settings: Settings, *, dsn: str | None = None) -> Hub:
        """Open the database (embedded unless a DSN is set), upgrade it and load the config."""
        db = open_database(dsn or settings.database_url, settings.data_dir, pool_size=settings.pool_size)
        try:
            _, backend = upgrade(db)
            pipeline = Pipeline(loaded.deployment, loaded.sha256)
            with db.transaction() as conn:
                record_config(conn, loaded, pipeline.clock())
        except Exception:
            db.close()
            raise
        return cls(db, backend, loaded, pipeline, EvidenceStore(Path(loaded.deployment.storage.evidence_dir)))

    @classmethod
    def attach(cls, loaded: LoadedConfig, dsn: str, *, pool_size: int) -> Hub:
        """Join a hub another process started on `dsn` (schema current, config recorded): what an
        extra API process does."""
        db = open_database(dsn, Path(), pool_size=pool_size)
        try:
            with db.transaction() as conn:
                backend = detect_backend(conn)
        except Exception:
            db.close()
            raise
        pipeline = Pipeline(loaded.deployment, loaded.sha256)
        return cls(db, backend, loaded, pipeline, EvidenceStore(Path(loaded.deployment.storage.evidence_dir)))

    def take(self, event: Event) -> Taken:
        with self.db.transaction() as conn:
            return self.pipeline.take(conn, event)

    def upkeep(self, now: datetime | None = None) -> Upkeep:
        """Retention, compression, rollups and auto-closing; run it every minute or so."""
        now = now or utc_now()
        retention = self.config.deployment.storage.retention
        keep = {
            name: timedelta(seconds=getattr(retention, name))
            for name in ("readings", "detections", "device_health")
        }
        with self.db.transaction() as conn:
            removed = apply_retention(conn, self.backend, keep, now)
            compressed = compress_old_chunks(
                conn, self.backend, timedelta(seconds=retention.compress_after), now
            )
            rollup_rows = refresh_rollups(conn, now - ROLLUP_LOOKBACK, now)
            auto_closed = self.pipeline.close_stale(conn)
            watch_silence(conn, now, self.config.deployment.edge)
            refresh_statistics(conn, self.config.deployment.tz)  # the figures' rollups, off GET's path
        escalate_overdue(self.db, self.config.deployment, now)  # 催办, 督办: a transaction per clue
        return Upkeep(removed, compressed, rollup_rows, auto_closed)

    def close(self) -> None:
        self.db.close()
