"""Tokens stop working the moment they are revoked, deleted or expire, though the API caches them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from api.auth import create_token, revoke_token
from tests.api.conftest import Api


def _token(api: Api, name: str, expires_in: timedelta | None = None) -> str:
    now = datetime.now(UTC)
    expires_at = now + expires_in if expires_in is not None else None
    with api.hub.db.transaction() as conn:
        return create_token(conn, name, "operator", now, expires_at=expires_at)


def _status(api: Api, token: str) -> int:
    return httpx.get(f"{api.url}/alerts?limit=1", headers={"Authorization": f"Bearer {token}"}).status_code


def _refused_within(api: Api, token: str, seconds: float) -> float:
    """How long after now the API first answers 401 to `token`; fails past `seconds`."""
    start = time.monotonic()
    while _status(api, token) != 401:
        assert time.monotonic() - start < seconds, f"token still accepted after {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - start


def _in_use(api: Api, token: str) -> None:
    for _ in range(3):  # looked up once, then answered from the cache
        assert _status(api, token) == 200


def test_a_revoked_token_is_refused_at_once(api: Api) -> None:
    token = _token(api, "to revoke")
    _in_use(api, token)
    with api.hub.db.transaction() as conn:
        revoke_token(conn, datetime.now(UTC), "admin:test", token=token)
    assert _refused_within(api, token, 1.0) < 1.0
    with api.hub.db.transaction() as conn:
        row = conn.execute("SELECT actor FROM audit_log WHERE action = 'token.revoke'").fetchone()
    assert row == ("admin:test",)


def test_a_deleted_token_is_refused_at_once(api: Api) -> None:
    token = _token(api, "to delete")
    _in_use(api, token)
    with api.hub.db.transaction() as conn:
        conn.execute("DELETE FROM api_tokens WHERE name = 'to delete'")
    _refused_within(api, token, 1.0)


def test_an_expired_token_is_refused_though_it_was_cached(api: Api) -> None:
    token = _token(api, "short-lived", expires_in=timedelta(seconds=1.5))
    _in_use(api, token)
    time.sleep(1.6)
    assert _status(api, token) == 401


def test_logout_revokes_the_token_of_the_call_only(api: Api) -> None:
    mine, other = _token(api, "session a"), _token(api, "session b")
    _in_use(api, mine)
    _in_use(api, other)
    answer = httpx.post(f"{api.url}/auth/logout", headers={"Authorization": f"Bearer {mine}"})
    assert answer.status_code == 204
    _refused_within(api, mine, 1.0)
    assert _status(api, other) == 200
    again = httpx.post(f"{api.url}/auth/logout", headers={"Authorization": f"Bearer {mine}"})
    assert again.status_code == 401
    assert httpx.post(f"{api.url}/auth/logout").status_code == 401


def test_while_the_listener_is_away_every_token_is_looked_up(api: Api) -> None:
    """A revocation announced while nobody listens is missed: the cache must not answer then."""
    token = _token(api, "revoked while deaf")
    _in_use(api, token)
    with psycopg.connect(api.hub.db.dsn, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query LIKE 'LISTEN%%'"
        ).fetchall()
        assert killed == [(True,)]
        deadline = time.monotonic() + 5
        while httpx.get(f"{api.url}/healthz").json()["stream"] != "reconnecting":
            assert time.monotonic() < deadline, "the API did not notice its listener was gone"
            time.sleep(0.01)
        assert _status(api, token) == 200  # looked up, and not kept while nobody listens
        admin.execute("UPDATE api_tokens SET revoked_at = now() WHERE name = 'revoked while deaf'")
    assert _status(api, token) == 401
    deadline = time.monotonic() + 5
    while httpx.get(f"{api.url}/healthz").json()["stream"] != "ok":
        assert time.monotonic() < deadline, "the listener did not come back"
        time.sleep(0.05)
    assert _status(api, token) == 401
    assert _status(api, api.tokens["operator"]) == 200
