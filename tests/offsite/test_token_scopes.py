"""`offsite token create` and `offsite user create` refuse departments and sites the deployment lacks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hub.config import Settings, load_config
from hub.runtime import Hub
from tests.conftest import REPO, Server
from tests.offsite.command import offsite

DEMO = REPO / "configs" / "demo.yaml"


def _stored(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM api_tokens), (SELECT count(*) FROM api_users)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.fixture
def deployed(server: Server, tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A database holding the demo deployment (as `offsite up -c demo.yaml` leaves it)."""
    dsn = server.create_database()
    Hub.start(load_config(DEMO), Settings(data_dir=tmp_path), dsn=dsn).close()
    yield {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}, dsn
    server.drop_database(dsn)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("token", "create", "--role", "department", "--department", "markets"),
            "no department 'markets' in the deployment in force; known: hall-office, market",
        ),
        (
            ("token", "create", "--role", "edge", "--site", "lintong"),
            "no site 'lintong' in the deployment in force; known: ",
        ),
        (
            ("user", "create", "desk", "--role", "department", "--department", "nowhere", "--password", "pw"),
            "no department 'nowhere' in the deployment in force",
        ),
    ],
    ids=["token-department", "token-site", "user-department"],
)
def test_unknown_names_are_refused_in_one_line(
    deployed: tuple[dict[str, str], str], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    env, dsn = deployed
    refused = offsite(env, tmp_path, *args)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert message in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    assert _stored(dsn) == (0, 0)


def test_known_names_are_taken(deployed: tuple[dict[str, str], str], tmp_path: Path) -> None:
    env, dsn = deployed
    for args in [
        ("token", "create", "--role", "department", "--department", "market"),
        ("token", "create", "--role", "edge", "--site", "lintong-coldstore"),
        ("user", "create", "desk", "--role", "department", "--department", "hall-office", "--password", "pw"),
    ]:
        made = offsite(env, tmp_path, *args)
        assert made.returncode == 0, made.stderr
    assert _stored(dsn) == (2, 1)


def test_without_a_deployment_a_scoped_token_is_refused(server: Server, tmp_path: Path) -> None:
    dsn = server.create_database()
    try:
        env = {**os.environ, "OFFSITE_DATABASE_URL": dsn, "OFFSITE_DATA_DIR": str(tmp_path)}
        refused = offsite(env, tmp_path, "token", "create", "--role", "department", "--department", "market")
        assert refused.returncode == 2 and "no deployment loaded yet" in refused.stderr, refused.stderr
        assert offsite(env, tmp_path, "token", "create", "--role", "admin").returncode == 0
    finally:
        server.drop_database(dsn)
