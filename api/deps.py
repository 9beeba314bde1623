"""Dependency aliases: the running services, a transaction, the caller and what the caller may do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AuthError, Principal, Role, principal_for
from api.feed import AlertFeed
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from hub.runtime import Hub
from hub.store.db import Connection


@dataclass
class Services:
    """What the lifespan builds and every request shares."""

    hub: Hub
    settings: ApiSettings
    feed: AlertFeed
    metrics: ApiMetrics
    broker_url: str | None

    def now(self) -> datetime:
        return self.hub.pipeline.clock()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


_bearer = HTTPBearer(
    auto_error=False, description="A token from `offsite token create` or `POST /auth/login`"
)


def current_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token; 401 without a usable one."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        with services.hub.db.transaction() as conn:
            return principal_for(conn, credentials.credentials, services.now())
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None


def get_conn(
    services: ServicesDep, caller: Annotated[Principal, Depends(current_principal)]
) -> Iterator[Connection]:
    """One transaction per request, committed before the response leaves.

    It depends on the caller so that the token is looked up (and its connection given back)
    before this one is taken: a request never holds two pool connections, so a full pool
    makes requests wait rather than deadlock.
    """
    with services.hub.db.transaction() as conn:
        yield conn


Conn = Annotated[Connection, Depends(get_conn, scope="function")]


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency admitting only `roles`. It never looks at a record, so a 403 tells nothing."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role} may not do this; allowed: {', '.join(roles)}",
            )
        return principal

    return check


Admin = Annotated[Principal, Depends(allow("admin"))]
Staff = Annotated[Principal, Depends(allow("admin", "operator"))]
Reader = Annotated[Principal, Depends(allow("admin", "operator", "department"))]
ClueWorker = Annotated[Principal, Depends(allow("admin", "department"))]
Sender = Annotated[Principal, Depends(allow("admin", "edge"))]
Uploader = Annotated[Principal, Depends(allow("admin", "edge", "department"))]
