"""The API served by uvicorn on a free port, on a fresh database of each server, with a token per role."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.auth import Role, create_token
from api.settings import ApiSettings
from hub.config import Settings, load_config
from hub.evidence import EvidenceStore
from hub.runtime import Hub
from tests.conftest import REPO, Server
from tests.hub.feed import GAS, HALL

# Who calls, as (role, department, site); market and hall-office are the demo's two departments.
CALLERS: dict[str, tuple[Role, str | None, str | None]] = {
    "admin": ("admin", None, None),
    "operator": ("operator", None, None),
    "market": ("department", "market", None),
    "hall": ("department", "hall-office", None),
    "edge": ("edge", None, "lintong-coldstore"),
}
LIMITS = ApiSettings(max_body=64 * 1024, max_upload=256 * 1024, max_events=50, stream_poll=0.5)


@dataclass
class Api:
    """A running API and a client per caller; `anonymous` sends no token."""

    url: str
    hub: Hub
    tokens: dict[str, str]

    def client(self, who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self.client(who) as client:
            return client.request(method, path, **kwargs)

    def raise_finding(self, base: dict[str, str], **extra: Any) -> dict[str, Any]:
        """Send one event that opens a new alert; the intake's answer."""
        self.retire(base)
        event = {
            **base,
            "id": f"t-{uuid.uuid4().hex}",
            "time": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
            **extra,
        }
        answer = self.call("admin", "POST", "/events", json={"events": [event]})
        assert answer.status_code == 200, answer.text
        taken: dict[str, Any] = answer.json()["taken"][0]
        return taken

    def retire(self, base: dict[str, str]) -> None:
        """End the alerts of a (source, rule) long ago, straight in the store, so that the next
        event of the pair is neither a repeat nor inside the rule's cooldown: a source is bound to
        its rule, so a test cannot take a fresh source instead."""
        with self.hub.db.transaction() as conn:
            conn.execute(
                "UPDATE alerts SET ended_at = '2000-01-01T00:00Z', status = CASE WHEN status IN"
                " ('open', 'acknowledged') THEN 'closed' ELSE status END WHERE source = %s AND rule = %s",
                (base["source"], base["rule"]),
            )

    def clue_of(self, alert_id: int) -> int:
        with self.hub.db.transaction() as conn:
            row = conn.execute("SELECT id FROM risk_clues WHERE alert_id = %s", (alert_id,)).fetchone()
        assert row is not None
        return int(row[0])


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(
    server: Server,
    data: Path,
    config: str = "demo.yaml",
    callers: dict[str, tuple[Role, str | None, str | None]] = CALLERS,
) -> Iterator[Api]:
    """Start the API on `config` (a file of configs/) on a fresh database of `server`, with a token
    for each of `callers`; stop it and drop the database after."""
    dsn = server.create_database()
    hub = Hub.start(load_config(REPO / "configs" / config), Settings(data_dir=data), dsn=dsn)
    hub.evidence = EvidenceStore(data / "evidence")
    tokens = {}
    with hub.db.transaction() as conn:
        for who, (role, department, site) in callers.items():
            tokens[who] = create_token(conn, who, role, datetime.now(UTC), department=department, site=site)
    try:
        with running(hub) as url:
            yield Api(url, hub, tokens)
    finally:
        hub.close()
        server.drop_database(dsn)


@contextmanager
def running(hub: Hub, sock: socket.socket | None = None) -> Iterator[str]:
    """An API application on `hub` served by uvicorn on `sock` (default: a free port); its URL while
    it runs. Two of them on one hub share nothing in memory, as two API processes would."""
    app = create_app(lambda: nullcontext(hub), LIMITS)
    sock = sock or _free_socket()
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, lifespan="on")
    userver = uvicorn.Server(config)
    thread = threading.Thread(target=userver.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not userver.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.02)
    host, port = sock.getsockname()
    try:
        yield f"http://{host}:{port}"
    finally:
        userver.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def api(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One API per test module and server kind; tests make records of their own through it."""
    with serve(server, tmp_path_factory.mktemp("api")) as started:
        yield started


@pytest.fixture
def market_alert(api: Api) -> int:
    """A fresh gas alert in the cold store, with a clue routed to market supervision."""
    alert_id: int = api.raise_finding(GAS, evidence=[])["alert_id"]
    return alert_id


@pytest.fixture
def hall_alert(api: Api) -> int:
    """A fresh absence alert in the service hall, with a clue routed to the hall office."""
    alert_id: int = api.raise_finding(HALL)["alert_id"]
    return alert_id


def evidence_file(api: Api, content: bytes, media_type: str = "image/jpeg") -> str:
    """Store evidence bytes directly in the hub (as an edge upload would) and return the hash."""
    with api.hub.db.transaction() as conn:
        return api.hub.evidence.register(conn, content, media_type)
