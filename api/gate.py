"""Who may call a route is settled before its body is read.

FastAPI reads and parses a route's body before it solves the route's dependencies, so a route
guarded by `Admin` would take in (up to the body limit) and parse whatever an anonymous caller
sends before answering 401. This middleware answers 401 and 403 first, from the same
dependencies: a route needs a caller when `current_principal` is among its dependencies, and
one of the roles that `allow()` names. The principal found is handed on, so it is looked up once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import PRINCIPAL_KEY, allowed_roles, authenticate, current_principal, role_refusal, services_of


@dataclass(frozen=True)
class Guard:
    """What a route asks of its caller: a principal, and one of `roles` when set."""

    roles: tuple[str, ...] | None


def _guard(dependant: Dependant) -> Guard | None:
    """The guard a route's dependencies declare, None when anyone may call it."""
    calls: list[Any] = []
    todo = [dependant]
    while todo:
        node = todo.pop()
        calls.append(node.call)
        todo.extend(node.dependencies)
    if current_principal not in calls:
        return None
    role_sets = [roles for roles in map(allowed_roles, calls) if roles is not None]
    if not role_sets:
        return Guard(None)
    return Guard(tuple(role for role in role_sets[0] if all(role in other for other in role_sets)))


class AuthenticateFirst:
    """ASGI middleware: a guarded route's first read of its body settles its caller first.

    The check runs where the body is asked for, once the router has matched the route, so it
    needs no routing of its own: a refusal is raised from `receive` as an HTTPException, which
    FastAPI passes on to its handlers (401 with `WWW-Authenticate`, or 403).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._guards: dict[int, Guard | None] = {}

    def guard(self, route: object) -> Guard | None:
        """The guard of a matched route (None: open to anyone, or not a FastAPI route)."""
        if not isinstance(route, APIRoute):
            return None
        if id(route) not in self._guards:
            self._guards[id(route)] = _guard(route.dependant)
        return self._guards[id(route)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def admitted() -> Message:
            guard = self.guard(scope.get("route"))
            if guard is not None and PRINCIPAL_KEY not in scope.setdefault("state", {}):
                await self._admit(scope, guard)
            return await receive()

        await self.app(scope, receive if scope["method"] in ("GET", "HEAD") else admitted, send)

    async def _admit(self, scope: Scope, guard: Guard) -> None:
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        principal = await authenticate(services_of(scope["app"]), authorization)
        if guard.roles is not None:
            refusal = role_refusal(principal, guard.roles)
            if refusal is not None:
                raise refusal
        scope["state"][PRINCIPAL_KEY] = principal
