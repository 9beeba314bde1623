"""One router per resource; each stays thin and leaves the work to the hub."""

from __future__ import annotations

from typing import Any

from api.schemas import Conflict, Problem

AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body could not be read (not UTF-8, not JSON, broken form)"},
    401: {"model": Problem, "description": "No usable token"},
    403: {"model": Problem, "description": "The caller's role may not do this"},
    413: {"model": Problem, "description": "Body over the limit"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such record, or none the caller may see"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Conflict, "description": "The record's state does not allow this action"}
}


def evidence_links(hashes: list[str]) -> list[str]:
    """Download links for evidence hashes (relative to the API root)."""
    return [f"/evidence/{digest}" for digest in hashes]
