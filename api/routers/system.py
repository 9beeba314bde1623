"""Health, metrics, login and the offline API docs page."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api.auth import revoke_token
from api.deps import Caller, Credentials, Db, ServicesDep, Staff, bearer_token
from api.docs import docs_page
from api.routers import AUTH_RESPONSES
from api.schemas import Health, Login, Problem, Session
from api.throttle import Throttled, attempt_login

router = APIRouter(tags=["system"])


def _broker_reachable(url: str, timeout: float = 1.0) -> bool:
    parts = urlsplit(url)
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, summary="Health")
def healthz(services: ServicesDep, response: Response) -> Health:
    """Database and broker reachability; 503 when the database does not answer."""
    try:
        with services.hub.db.transaction() as conn:
            conn.execute("SELECT 1")
        database = "ok"
    except Exception:
        database = "unreachable"
    broker_url = services.broker_url
    broker = (
        "not_configured" if broker_url is None else ("ok" if _broker_reachable(broker_url) else "unreachable")
    )
    stream = "ok" if services.listener.listening.is_set() else "reconnecting"
    if database != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    overall = (
        "down" if database != "ok" else ("ok" if broker != "unreachable" and stream == "ok" else "degraded")
    )
    return Health(status=overall, database=database, broker=broker, stream=stream)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        **AUTH_RESPONSES,
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
    },
    summary="Prometheus metrics",
)
def metrics(services: ServicesDep, caller: Staff) -> Response:
    """Request counts and latencies of every API process, alerts by state, overdue clues, and,
    with one API process, that process's own series."""
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


_THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Problem,
        "description": "Too many failed logins for this user name or client address",
        "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    }
}


@router.post(
    "/auth/login",
    response_model=Session,
    responses={**{code: AUTH_RESPONSES[code] for code in (400, 401, 413)}, **_THROTTLED},
    summary="Log in to the dashboard",
)
def login(body: Login, request: Request, services: ServicesDep) -> Session:
    """Exchange a username and password for a session token. Failed logins are audited and
    throttled per user name and per client address (429 with `Retry-After`)."""
    now = services.now()
    lifetime = services.settings.session_lifetime
    address = request.client.host if request.client else "unknown"
    policy = services.settings.login_policy
    with services.hub.db.transaction() as conn:
        outcome = attempt_login(conn, body.username, body.password, address, now, lifetime, policy)
    if isinstance(outcome.refusal, Throttled):
        retry = {"Retry-After": str(outcome.refusal.retry_after)}
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(outcome.refusal), headers=retry)
    if outcome.token is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(outcome.refusal))
    return Session(token=outcome.token, expires_at=now + lifetime)


@router.post(
    "/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=AUTH_RESPONSES,
    summary="Revoke the token of this call",
)
async def logout(caller: Caller, credentials: Credentials, db: Db, services: ServicesDep) -> Response:
    """The token sent with this call stops working, here and in every API process, at once."""
    await db.run(revoke_token, services.now(), caller.actor, token=bearer_token(credentials))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(docs_page(request.app.title, request.app.openapi_url or "/openapi.json"))
