"""Dependency aliases: the running services, the database, the caller and what the caller may do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AuthError, Principal, Role, TokenCache, principal_for
from api.feed import AlertFeed
from api.listener import Listener
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from hub.runtime import Hub
from hub.store.db import Connection, Database

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Transactions:
    """The hub's database as a request uses it: `await db.run(work, ...)`.

    `work(conn, ...)` runs on a worker thread inside one transaction, committed when it returns
    and rolled back when it raises. A request's database work takes one thread and one pooled
    connection together and gives both back together; `limiter` holds the threads to no more than
    the pool has connections, so a thread never sits waiting for a connection that only another
    waiting request could give back. Fewer threads than the default 40 also spend less of the
    process on passing the GIL around (measured in BENCHMARKS.md).
    """

    database: Database
    limiter: CapacityLimiter

    async def run(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._on_thread(self.database.transaction, work, *args, **kwargs)

    async def read(
        self, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Like `run` for work that only reads, one statement at a time (a list's page): no
        transaction around it (`Database.reading`)."""
        return await self._on_thread(self.database.reading, work, *args, **kwargs)

    async def _on_thread(
        self,
        connect: Callable[[], AbstractContextManager[Connection]],
        work: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        def call() -> T:
            with connect() as conn:
                return work(conn, *args, **kwargs)

        return await anyio.to_thread.run_sync(call, limiter=self.limiter)


@dataclass
class Services:
    """What the lifespan builds and every request shares."""

    hub: Hub
    settings: ApiSettings
    db: Transactions
    listener: Listener
    feed: AlertFeed
    tokens: TokenCache
    metrics: ApiMetrics
    broker_url: str | None

    def now(self) -> datetime:
        return self.hub.pipeline.clock()


def services_of(app: Any) -> Services:
    """What the lifespan built for `app` (the FastAPI application)."""
    services: Services = app.state.services
    return services


async def get_services(request: Request) -> Services:
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_db(services: ServicesDep) -> Transactions:
    return services.db


Db = Annotated[Transactions, Depends(get_db)]


_bearer = HTTPBearer(
    auto_error=False, description="A token from `offsite token create` or `POST /auth/login`"
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing credentials: send Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


# Where `api.gate.AuthenticateFirst` leaves the principal it found, in the request's state.
PRINCIPAL_KEY = "offsite_principal"


async def current_principal(request: Request, services: ServicesDep, credentials: Credentials) -> Principal:
    """The caller behind the bearer token; 401 without a usable one."""
    found = request.scope.get("state", {}).get(PRINCIPAL_KEY)
    if isinstance(found, Principal):  # authenticated before the body was read
        return found
    return await _principal(services, bearer_token(credentials))


async def authenticate(services: Services, authorization: str) -> Principal:
    """The caller behind an `Authorization` header's value; 401 without a usable bearer token."""
    scheme, _, token = authorization.strip().partition(" ")
    credentials = (
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    return await _principal(services, bearer_token(credentials))


async def _principal(services: Services, token: str) -> Principal:
    now = services.now()
    principal = services.tokens.get(token, now)
    if principal is not None:
        return principal
    generation = services.tokens.generation
    try:
        principal = await services.db.run(principal_for, token, now)
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from None
    services.tokens.put(token, principal, generation)
    return principal


_ROLES_ATTRIBUTE = "offsite_roles"


def allow(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only `roles`. It never looks at a record, so a 403 tells nothing."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        refusal = role_refusal(principal, roles)
        if refusal is not None:
            raise refusal
        return principal

    setattr(check, _ROLES_ATTRIBUTE, roles)  # read by api.gate, which checks before the body is read
    return check


def allowed_roles(dependency: object) -> tuple[str, ...] | None:
    """The roles an `allow()` dependency admits; None for any other callable."""
    roles = getattr(dependency, _ROLES_ATTRIBUTE, None)
    return tuple(roles) if isinstance(roles, tuple) else None


def role_refusal(principal: Principal, roles: tuple[str, ...]) -> HTTPException | None:
    """The 403 for a caller whose role is not among `roles`, or None."""
    if principal.role in roles:
        return None
    return HTTPException(
        status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this; allowed: {', '.join(roles)}"
    )


Caller = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(allow("admin"))]
Staff = Annotated[Principal, Depends(allow("admin", "operator"))]
Reader = Annotated[Principal, Depends(allow("admin", "operator", "department"))]
ClueWorker = Annotated[Principal, Depends(allow("admin", "department"))]
Sender = Annotated[Principal, Depends(allow("admin", "edge"))]
Uploader = Annotated[Principal, Depends(allow("admin", "edge", "department"))]
