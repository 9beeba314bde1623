"""A hub's API (real PostgreSQL) with edge tokens of two sites, and a box's outbox in front of the
uplink to it, directly or through a TCP proxy of the test's own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from api.auth import Role
from edge.uplink import HubUplink
from harness.tcpproxy import TcpProxy
from hub.events import Event
from hub.spool import DurableSink
from tests.api.conftest import Api, serve
from tests.conftest import Server
from tests.hub.feed import HALL, QUEUE, event

CALLERS: dict[str, tuple[Role, str | None, str | None]] = {
    "admin": ("admin", None, None),
    "operator": ("operator", None, None),
    "box-hall": ("edge", None, "lintong-hall"),
    "box-cold": ("edge", None, "lintong-coldstore"),
}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
TIMEOUT = 10.0  # the uplink's request timeout: generous, for a loaded test machine
BLACKHOLE_TIMEOUT = 0.5  # ... and where the link is blackholed, so that it fails fast
# A heartbeat of the hall's box, as POST /edge/heartbeat takes it.
BEAT = {
    "site": "lintong-hall",
    "time": "2026-01-01T00:00:00+00:00",
    "software": "1.0",
    "config_version": "c0ffee",
    "outbox_depth": 0,
    "outbox_age_s": 0,
    "load_1m": 0.5,
    "memory_free_bytes": 2**30,
    "disk_free_bytes": 2**34,
    "outbox_bytes": 0,
    "outbox_limit_bytes": 2**30,
    "outbox_evicted": 0,
    "cameras": {"hall-window-1": "online"},
}


@pytest.fixture
def hub(server: Server, tmp_path: Path) -> Iterator[Api]:
    """A hub of the test's own: the tests compare what arrived with what was sent."""
    with serve(server, tmp_path / "hub", callers=CALLERS) as started:
        yield started


@pytest.fixture
def proxy(hub: Api) -> Iterator[TcpProxy]:
    host, port = httpx.URL(hub.url).host, httpx.URL(hub.url).port
    assert port is not None
    started = TcpProxy((host, port))
    try:
        yield started
    finally:
        started.close()


def box(path: Path, url: str, token: str, timeout: float = TIMEOUT) -> tuple[DurableSink, HubUplink]:
    """A box's outbox at `path` in front of an uplink to `url`."""
    uplink = HubUplink(url, token, timeout=timeout)
    return DurableSink(path, uplink), uplink


def hall_scenario() -> list[Event]:
    """The hall's two cameras fire, repeat, clear and fire again, their events interleaved."""
    steps = [{}, {}, {"cleared": True}, {}, {}, {"cleared": True}, {}, {}, {}]
    return [
        event(f"{base['rule']}-{i}", T0 + timedelta(minutes=10 * i, seconds=j), base, **extra)
        for i, extra in enumerate(steps)
        for j, base in enumerate((HALL, QUEUE))
    ]


def by_source(events: list[Event]) -> dict[str, list[str]]:
    order: dict[str, list[str]] = {}
    for e in events:
        order.setdefault(e.source, []).append(e.id)
    return order


def evidence_at_hub(hub: Api) -> dict[str, bytes]:
    """Every evidence file the hub holds, downloaded through its API, its hash verified."""
    with hub.hub.db.transaction() as conn:
        hashes = [str(r[0]) for r in conn.execute("SELECT sha256 FROM evidence ORDER BY sha256")]
    files = {}
    for sha in hashes:
        answer = hub.call("admin", "GET", f"/evidence/{sha}")
        assert answer.status_code == 200, answer.text
        assert hashlib.sha256(answer.content).hexdigest() == sha
        files[sha] = answer.content
    return files
