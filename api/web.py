"""The dashboard (web/, built by Vite into api/web_dist) served at / from the API's own origin.

It answers only what no API route matched, full or partial (a wrong method still gets the API's
405): it hooks in as the router's default. A path under an API route's first segment is never
answered with the app, so `GET /alerts/nonsense` stays the API's 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

DIST = Path(__file__).with_name("web_dist")
NOT_BUILT = (
    "The dashboard is not built into this installation.\n"
    "From a checkout: scripts/web.sh (installs Node.js 18+ and npm when missing, then builds web/).\n"
)
# Vite names every asset by its content's hash: it never changes under its name.
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def _first_segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


class Dashboard:
    """ASGI app for the requests no route took: the built files, index.html for client routes."""

    def __init__(self, dist: Path, routes: list[BaseRoute], not_found: ASGIApp) -> None:
        self.dist = dist.resolve()
        self.routes = routes
        self.not_found = not_found
        self._reserved: set[str] | None = None

    def reserved(self) -> set[str]:
        """First segments of the API's paths (read once all routers are in)."""
        if self._reserved is None:
            self._reserved = {_first_segment(getattr(r, "path", "")) for r in self.routes} - {""}
        return self._reserved

    def response(self, scope: Scope) -> Response | None:
        path: str = scope["path"]
        if scope["method"] not in ("GET", "HEAD") or "\x00" in path:
            return None
        if _first_segment(path) in self.reserved():
            return None
        index = self.dist / "index.html"
        if not index.is_file():
            return PlainTextResponse(NOT_BUILT, status_code=404)
        file = (self.dist / path.lstrip("/")).resolve()
        if file.is_file() and file.is_relative_to(self.dist):
            assets = file.parent == self.dist / "assets"
            return FileResponse(file, headers=_IMMUTABLE if assets else {"Cache-Control": "no-cache"})
        accept = dict(scope["headers"]).get(b"accept", b"")
        if path == "/" or b"text/html" in accept:  # a browser opening a client route (a reload)
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.response(scope) if scope["type"] == "http" else None
        if response is None:
            await self.not_found(scope, receive, send)
        else:
            await response(scope, receive, send)


def serve_dashboard(app: FastAPI, dist: Path = DIST) -> None:
    """Answer the requests that no API route matches with the dashboard in `dist`."""
    app.router.default = Dashboard(dist, app.router.routes, app.router.default)
