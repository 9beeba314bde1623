"""A body is read only for a caller who may send it; a body that cannot be read is a 400 everywhere."""

from __future__ import annotations

import re
import socket
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import LIMITS, Api

# Values for the path parameters of the routes that take a body.
PATH_VALUES = {"sha256": "ab" * 32, "section": "sites", "key": "nowhere"}
DECLARED = LIMITS.max_body - 1024  # under every limit, so only authentication can stop it early


def _body_operations(api: Api) -> list[tuple[str, str, str]]:
    """(method, path, media type) of every operation the API documents as taking a body."""
    schema = api.call("anonymous", "GET", "/openapi.json").json()
    found = []
    for template, operations in schema["paths"].items():
        path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "1"), template)
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if content:
                found.append((method.upper(), path, next(iter(content))))
    return found


def _first_answer(api: Api, method: str, path: str, media_type: str, token: str | None) -> int:
    """Send the head of a request and one byte of its body; the status the server answers with
    while the rest is still to come. Fails when the server waits for the body first."""
    url = urlsplit(api.url)
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: {url.hostname}",
        f"Content-Type: {media_type}" + ("; boundary=b" if media_type.startswith("multipart/") else ""),
        f"Content-Length: {DECLARED}",
    ]
    if token is not None:
        head.append(f"Authorization: Bearer {token}")
    with socket.create_connection((url.hostname or "", url.port or 80), timeout=3) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"{")
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            pytest.fail(f"{method} {path}: no answer in 3 s; the server waits to read the body first")
    return int(answer.split()[1])


def test_every_body_taking_route_is_listed(api: Api) -> None:
    operations = {(method, path) for method, path, _ in _body_operations(api)}
    for expected in [("PUT", "/config"), ("POST", "/events"), ("PUT", f"/evidence/{'ab' * 32}")]:
        assert expected in operations
    assert len(operations) >= 10, operations


@pytest.mark.parametrize("token", [None, "ofs_not-a-token"], ids=["anonymous", "unknown-token"])
def test_strangers_are_refused_before_the_body_is_read(api: Api, token: str | None) -> None:
    refused = {
        f"{method} {path}": _first_answer(api, method, path, media_type, token)
        for method, path, media_type in _body_operations(api)
        if path != "/auth/login"  # the one body anyone may send
    }
    assert set(refused.values()) == {401}, refused


@pytest.mark.parametrize(
    ("who", "method", "path"),
    [
        ("operator", "PUT", "/config"),
        ("edge", "POST", "/config/sites"),
        ("market", "PUT", "/config/sites/nowhere"),
        ("market", "POST", "/events"),
        ("operator", "PUT", f"/evidence/{'ab' * 32}"),
        ("operator", "POST", "/clues/1/feedback"),
    ],
)
def test_a_role_that_may_not_send_is_refused_before_the_body_is_read(
    api: Api, who: str, method: str, path: str
) -> None:
    assert _first_answer(api, method, path, "application/json", api.tokens[who]) == 403


def test_unreadable_json_is_400_on_every_json_route(api: Api) -> None:
    answers: dict[str, Any] = {}
    for method, path, media_type in _body_operations(api):
        if media_type == "application/json":
            for who in ("admin", "edge"):  # a caller who may send it: edge-only routes refuse admins
                answer = api.call(
                    who, method, path, content=b'{"events": [', headers={"content-type": media_type}
                )
                if answer.status_code != 403:
                    break
            answers[f"{method} {path}"] = (answer.status_code, answer.json()["detail"][:27])
    assert answers and set(answers.values()) == {(400, "the body is not valid JSON:")}, answers
