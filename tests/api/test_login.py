"""Failed logins are throttled per user name and per client address, across API processes, and audited."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from api.auth import create_user
from hub import audit
from tests.api.conftest import Api, running
from tests.conftest import Clock

PASSWORD = "correct horse battery"
FREE_PER_USER = 5  # the defaults of OFFSITE_API_LOGIN_FREE_FAILURES[_PER_ADDRESS]
FREE_PER_ADDRESS = 20


@pytest.fixture
def clock(api: Api) -> Iterator[Clock]:
    """The hub's clock, moved by the test instead of waiting; no failures left from other tests."""
    moved = Clock(datetime.now(UTC))
    kept, api.hub.pipeline.clock = api.hub.pipeline.clock, moved
    with api.hub.db.transaction() as conn:
        if conn.execute("SELECT to_regclass('login_failures')").fetchone() != (None,):
            conn.execute("DELETE FROM login_failures")
    yield moved
    api.hub.pipeline.clock = kept


@pytest.fixture
def user(api: Api) -> str:
    name = f"desk-{uuid.uuid4().hex[:8]}"
    with api.hub.db.transaction() as conn:
        create_user(conn, name, PASSWORD, "department", datetime.now(UTC), "market")
    return name


def _login(url: str, username: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/auth/login", json={"username": username, "password": password}, timeout=10)


def test_a_user_is_locked_out_longer_after_each_failure(api: Api, clock: Clock, user: str) -> None:
    for _ in range(FREE_PER_USER + 1):  # the last one locks the name for 1 s
        assert _login(api.url, user, "guess").status_code == 401
    locked = _login(api.url, user, PASSWORD)  # even the right password waits
    assert (locked.status_code, locked.headers.get("retry-after")) == (429, "1"), locked.text
    clock.advance(seconds=1)
    assert _login(api.url, user, "guess").status_code == 401  # now locked for 2 s
    assert _login(api.url, user, PASSWORD).headers.get("retry-after") == "2"
    clock.advance(seconds=1)
    assert _login(api.url, user, PASSWORD).status_code == 429
    clock.advance(seconds=1)
    assert _login(api.url, user, PASSWORD).status_code == 200
    for _ in range(FREE_PER_USER):  # a success clears the name's count
        assert _login(api.url, user, "guess").status_code == 401


def test_twenty_wrong_passwords_are_not_twenty_401s(api: Api, clock: Clock, user: str) -> None:
    codes = [_login(api.url, user, f"guess {n}").status_code for n in range(20)]
    assert codes == [401] * (FREE_PER_USER + 1) + [429] * (20 - FREE_PER_USER - 1)


def test_one_address_guessing_at_many_names_is_locked(api: Api, clock: Clock, user: str) -> None:
    for n in range(FREE_PER_ADDRESS + 1):  # one failure per name, all from 127.0.0.1
        assert _login(api.url, f"nobody-{n}", "guess").status_code == 401
    refused = _login(api.url, user, PASSWORD)
    assert (refused.status_code, refused.headers.get("retry-after")) == (429, "1")
    clock.advance(seconds=1)
    assert _login(api.url, user, PASSWORD).status_code == 200


def test_failures_are_audited_in_the_chain(api: Api, clock: Clock, user: str) -> None:
    with api.hub.db.transaction() as conn:
        before = audit.verify(conn).entries
    for _ in range(3):
        _login(api.url, user, "guess")
    with api.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT actor, subject, detail->>'username', detail->'failures'->>%s FROM audit_log"
            " WHERE action = 'auth.login_failed' AND subject = %s ORDER BY seq",
            (f"user:{user}", f"user:{user}"),
        ).fetchall()
        report = audit.verify(conn)
    assert rows == [("address:127.0.0.1", f"user:{user}", user, str(n)) for n in (1, 2, 3)]
    assert report.intact and report.entries == before + 3


def test_every_api_process_counts_the_same_failures(api: Api, clock: Clock, user: str) -> None:
    with running(api.hub) as other:
        for n in range(FREE_PER_USER + 1):
            assert _login(api.url if n % 2 else other, user, "guess").status_code == 401
        assert _login(other, user, PASSWORD).status_code == 429
        assert _login(api.url, user, PASSWORD).status_code == 429
