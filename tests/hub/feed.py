"""Events of the demo deployment, and small helpers to feed them to the pipeline in tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.events import Event
from hub.pipeline import Pipeline, Taken
from hub.store.db import Database

HALL = {"source": "camera:hall-window-1", "site": "lintong-hall", "rule": "window-absence"}
GAS = {"source": "sensor:coldstore-gas", "site": "lintong-coldstore", "rule": "coldstore-gas-high"}
WARM = {"source": "sensor:coldstore-temp", "site": "lintong-coldstore", "rule": "coldstore-too-warm"}
QUEUE = {"source": "camera:hall-waiting", "site": "lintong-hall", "rule": "hall-queue"}


def event(id: str, at: datetime, base: dict[str, str], **extra: Any) -> Event:
    return Event.model_validate({"id": id, "time": at, **base, **extra})


def take(db: Database, pipeline: Pipeline, e: Event) -> Taken:
    with db.transaction() as conn:
        return pipeline.take(conn, e)


def count(db: Database, table: str) -> int:
    with db.transaction() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])
