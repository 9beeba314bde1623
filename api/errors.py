"""Errors as answers: what was wrong, where (field paths), never a 500 for bad input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.clues import FeedbackInvalid
from hub.config.loader import format_loc
from hub.workflow import IllegalTransition, RecordNotFound


def field_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Validation errors with their location as a list and as a path (`body.events[0].time`).

    The offending input is not echoed back: it may be large, or a secret.
    """
    out = []
    for error in errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        out.append(
            {
                "loc": loc,
                "path": format_loc(loc),
                "msg": str(error.get("msg", "invalid")).removeprefix("Value error, "),
                "type": str(error.get("type", "invalid")),
            }
        )
    return out


def unprocessable(loc: list[str | int], message: str, kind: str = "value_error") -> HTTPException:
    """A 422 for one field, in the same shape as request validation errors."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT, field_errors([{"loc": loc, "msg": message, "type": kind}])
    )


def forbidden(loc: list[str | int], message: str) -> HTTPException:
    """A 403 for one field naming what lies outside the caller's scope (another site's source,
    camera or evidence), in the same shape as request validation errors."""
    return HTTPException(
        status.HTTP_403_FORBIDDEN, field_errors([{"loc": loc, "msg": message, "type": "foreign"}])
    )


# A body that cannot be read at all (not JSON, not UTF-8, a broken form) answers 400 with what
# was wrong (`Problem`); one that reads but does not validate answers 422 with every field's path.


def unreadable(message: str) -> HTTPException:
    """A 400 for a body that cannot be read."""
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    broken = next((error for error in errors if error.get("type") == "json_invalid"), None)
    if broken is not None:
        where = broken["loc"][-1] if broken.get("loc") else "?"
        reason = (broken.get("ctx") or {}).get("error", "JSON decode error")
        return JSONResponse(
            {"detail": f"the body is not valid JSON: {reason} (at character {where})"},
            status.HTTP_400_BAD_REQUEST,
        )
    return JSONResponse({"detail": field_errors(errors)}, status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status.HTTP_404_NOT_FOUND)


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IllegalTransition)
    return JSONResponse(
        {"detail": str(exc), "status": exc.status, "allowed": exc.allowed}, status.HTTP_409_CONFLICT
    )


async def _feedback(request: Request, exc: Exception) -> JSONResponse:
    field = "verdict" if "verdict" in str(exc) else "text"
    errors = field_errors([{"loc": ["body", field], "msg": str(exc), "type": "feedback"}])
    return JSONResponse({"detail": errors}, status.HTTP_422_UNPROCESSABLE_CONTENT)


async def no_nul_in_query(request: Request) -> None:
    """Refuse NUL characters in query parameters, which no database column can hold."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise unprocessable(["query", name], "contains a NUL character", "nul_character")


def install_error_handlers(app: FastAPI) -> None:
    """Map the hub's errors to HTTP answers."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RecordNotFound, _not_found)
    app.add_exception_handler(IllegalTransition, _conflict)
    app.add_exception_handler(FeedbackInvalid, _feedback)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status.HTTP_413_CONTENT_TOO_LARGE, f"request body over the limit of {limit} bytes")


class BodyLimit:
    """Refuse bodies over a limit with 413, by Content-Length up front or by counting as they arrive.

    Paths for which `is_upload` says yes get the larger upload limit.
    """

    def __init__(
        self, app: ASGIApp, max_body: int, max_upload: int, is_upload: Callable[[str], bool]
    ) -> None:
        self.app, self.max_body, self.max_upload, self.is_upload = app, max_body, max_upload, is_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.max_upload if self.is_upload(path) else self.max_body
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = JSONResponse({"detail": f"request body over the limit of {limit} bytes"}, 413)
    await send({"type": "http.response.start", "status": 413, "headers": body.raw_headers})
    await send({"type": "http.response.body", "body": body.body})
