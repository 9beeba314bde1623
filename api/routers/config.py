"""The deployment as data: read it, edit one entry of a list section, or import a whole document.

Every write is checked as a whole deployment, cross-references included, before it is kept; the
running hub keeps the config it was started with until it is restarted on the new one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, Field

from api import config_store
from api.config_store import ConfigInvalid, ConfigVersion, Document, EntryExists, Section, VersionMismatch
from api.deps import Admin, Db, ServicesDep, Staff
from api.errors import unprocessable, unreadable
from api.routers import AUTH_RESPONSES, NOT_FOUND
from api.schemas import Problem
from hub.store.db import Connection
from hub.workflow import RecordNotFound

router = APIRouter(prefix="/config", tags=["config"], responses=AUTH_RESPONSES)

NOTE = (
    "Stored as the deployment in force. The running hub keeps the config it was started with until"
    " it is restarted on this one: `offsite config export -o FILE`, then `offsite up -c FILE`."
)
Operation = Literal["create", "replace", "delete", "import"]
SectionName = Annotated[
    str,
    Path(
        max_length=40,
        description="A list section of the deployment (`models` is vision.models)",
        json_schema_extra={"enum": list(config_store.SECTIONS)},
    ),
]
EntryKey = Annotated[
    str,
    Path(
        max_length=200, description="The entry's key: `credit_code` for objects, `code` for items, else `id`"
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=2000,
        description="The ETag the edit is based on: 412 when the deployment changed since",
    ),
]
Entry = Annotated[dict[str, Any], Body(description="One entry, with the fields it has in the YAML section")]


class ConfigChange(BaseModel):
    """A stored edit of the deployment."""

    sha256: str = Field(description="SHA-256 of the deployment now in force (also the ETag)")
    previous_sha256: str | None = Field(description="The version the edit was applied to")
    operation: Operation
    section: str | None = Field(description="The section edited; null for an import")
    id: str | None = Field(description="The entry's key; null for an import")
    entry: dict[str, Any] | None = Field(description="The entry as stored, or as it was before a delete")
    running_sha256: str = Field(description="SHA-256 of the config the running hub was started with")
    restart_needed: bool = Field(description="Whether the running hub runs another version")
    note: str


class ConfigFieldProblem(BaseModel):
    """One thing wrong, by its path in the deployment (`rules[3].zone`) or in the request."""

    loc: list[str | int]
    path: str
    msg: str
    type: str
    line: int | None = Field(default=None, description="Line in the imported YAML text")
    entry: str | None = Field(default=None, description="The entry at fault, as `/config/SECTION/KEY`")


class ConfigProblems(BaseModel):
    detail: list[ConfigFieldProblem]


_ETAG = {"ETag": {"description": "SHA-256 of the deployment version, quoted", "schema": {"type": "string"}}}
_READ: dict[int | str, dict[str, Any]] = {**NOT_FOUND, 200: {"headers": _ETAG}}
_WRITE: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": Problem, "description": "An entry with that key exists already"},
    412: {"model": Problem, "description": "If-Match names a version no longer in force"},
    422: {"model": ConfigProblems, "description": "The deployment would not load: every problem, by path"},
}
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")


def _etag(sha256: str) -> str:
    return f'"{sha256}"'


def _etags(header: str | None) -> set[str] | None:
    if header is None:
        return None
    return {tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()}


def _loc(path: str) -> list[str | int]:
    """``rules[3].zone`` -> ``["rules", 3, "zone"]``."""
    return [int(index) if index else name for index, name in re.findall(r"\[(\d+)\]|([^.\[\]]+)", path)]


def _entry_at(loc: list[str | int], document: Document) -> str | None:
    """The API path of the list entry a problem lies in, so that it is named, not just numbered."""
    for where in config_store.SECTIONS.values():
        size = len(where.location)
        if tuple(loc[:size]) == where.location and len(loc) > size and isinstance(loc[size], int):
            listed = config_store.entries(document, where)
            index = loc[size]
            assert isinstance(index, int)
            entry = listed[index] if index < len(listed) else None
            key = entry.get(where.key) if isinstance(entry, dict) else None
            return f"/config/{where.name}/{key}" if isinstance(key, str) else None
    return None


def _invalid(exc: ConfigInvalid, with_lines: bool) -> HTTPException:
    detail = []
    for problem in exc.problems:
        loc = _loc(problem.path)
        item: dict[str, Any] = {"loc": loc, "path": problem.path, "msg": problem.message, "type": "config"}
        if with_lines and problem.line:
            item["line"] = problem.line
        entry = _entry_at(loc, exc.document)
        if entry:
            item["entry"] = entry
        detail.append(item)
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def _current(version: ConfigVersion | None) -> ConfigVersion:
    if version is None:
        raise RecordNotFound("no deployment loaded yet: start the hub with `offsite up -c FILE`")
    return version


# An edit: from the version in force (None before any), the new deployment and the entry to report.
Apply = Callable[[ConfigVersion | None], tuple[Document | str, Any]]


class ConfigWriter:
    """What a write needs: an admin, the transaction, If-Match, and the response for the ETag."""

    def __init__(
        self, db: Db, caller: Admin, services: ServicesDep, response: Response, if_match: IfMatch = None
    ) -> None:
        self.db, self.caller, self.services = db, caller, services
        self.response, self.if_match = response, if_match

    async def commit(
        self, operation: Operation, where: Section | None, key: str | None, apply: Apply
    ) -> ConfigChange:
        """Apply the edit to the version in force and keep the result if the deployment loads."""
        return await self.db.run(self._commit, operation, where, key, apply)

    def _commit(
        self, conn: Connection, operation: Operation, where: Section | None, key: str | None, apply: Apply
    ) -> ConfigChange:
        try:
            current = config_store.lock_active(conn, _etags(self.if_match))
        except VersionMismatch as exc:
            now = _etag(str(exc)) if str(exc) else "none"
            raise HTTPException(
                status.HTTP_412_PRECONDITION_FAILED,
                f"If-Match {self.if_match} is not the deployment in force, {now}: read it again",
                headers={"ETag": now} if str(exc) else None,
            ) from None
        try:
            document, entry = apply(current)
        except EntryExists as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        previous = current.sha256 if current else None
        section = where.name if where else None
        detail = {"section": section, "id": key, "operation": operation, "previous": previous}
        try:
            version = config_store.save(conn, document, self.caller.actor, self.services.now(), detail)
        except ConfigInvalid as exc:
            raise _invalid(exc, with_lines=isinstance(document, str)) from None
        self.response.headers["ETag"] = _etag(version.sha256)
        running = self.services.hub.config.sha256
        return ConfigChange(
            sha256=version.sha256,
            previous_sha256=previous,
            operation=operation,
            section=section,
            id=key,
            entry=entry,
            running_sha256=running,
            restart_needed=running != version.sha256,
            note=NOTE,
        )


Writer = Annotated[ConfigWriter, Depends()]


def _read(conn: Connection, response: Response) -> Document:
    """The deployment in force as data, its version as the response's ETag."""
    version = _current(config_store.active_version(conn))
    response.headers["ETag"] = _etag(version.sha256)
    return version.document()


@router.get("", response_model=dict[str, Any], responses=_READ, summary="The deployment in force")
async def get_config(db: Db, caller: Staff, response: Response) -> Document:
    """The whole deployment as written (defaults left out), as JSON; `PUT /config` takes it back."""
    return await db.run(_read, response)


@dataclass(frozen=True)
class Upload:
    media_type: str
    data: bytes


async def _upload(request: Request, caller: Admin) -> Upload:
    """The body as sent, read only once the caller is known to be an admin."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return Upload(media_type, await request.body())


def _imported(upload: Upload) -> Document | str:
    """The document sent: YAML text kept as it is, or a JSON object."""
    if upload.media_type not in (*_YAML_TYPES, "application/json"):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the deployment as application/json or as YAML ({', '.join(_YAML_TYPES)})",
        )
    try:
        text = upload.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise unreadable(f"the body is not UTF-8 text: {exc}") from None
    if upload.media_type != "application/json":
        return text
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise unreadable(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise unprocessable(["body"], "expected a JSON object of sections (name, sites, ...)")
    return config_store.from_json(document)


@router.put(
    "",
    response_model=ConfigChange,
    summary="Import a whole deployment",
    responses={
        **{code: answer for code, answer in _WRITE.items() if code != 409},
        200: {"headers": _ETAG},
        415: {"model": Problem, "description": "Neither JSON nor YAML"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_config(upload: Annotated[Upload, Depends(_upload)], writer: Writer) -> ConfigChange:
    """Replace the deployment with a YAML text (kept as sent, comments and all) or a JSON object
    (`GET /config`'s shape). The same checks as `offsite config check`."""
    document = _imported(upload)
    return await writer.commit("import", None, None, lambda current: (document, None))


@router.get(
    "/{section}", response_model=list[dict[str, Any]], responses=_READ, summary="The entries of a section"
)
async def list_entries(section: SectionName, db: Db, caller: Staff, response: Response) -> list[Any]:
    """Every entry of the section, in the order of the deployment (routing: first match wins)."""
    where = config_store.section(section)
    return config_store.entries(await db.run(_read, response), where)


@router.get("/{section}/{key}", response_model=dict[str, Any], responses=_READ, summary="One entry")
async def get_entry(section: SectionName, key: EntryKey, db: Db, caller: Staff, response: Response) -> Any:
    where = config_store.section(section)
    return config_store.get_entry(await db.run(_read, response), where, key)


@router.post(
    "/{section}",
    response_model=ConfigChange,
    status_code=status.HTTP_201_CREATED,
    responses={**_WRITE, 201: {"headers": _ETAG}},
    summary="Add an entry to a section",
)
async def create_entry(section: SectionName, entry: Entry, writer: Writer) -> ConfigChange:
    """Append the entry (to routing: after the others, so it matches last)."""
    where = config_store.section(section)
    key = entry.get(where.key)
    if not isinstance(key, str):
        raise unprocessable(["body", where.key], f"required: the entry's {where.key}, a string")
    change = await writer.commit(
        "create",
        where,
        key,
        lambda current: (config_store.create_entry(_current(current).document(), where, entry), entry),
    )
    writer.response.headers["Location"] = f"/config/{where.name}/{quote(key, safe='')}"
    return change


@router.put("/{section}/{key}", response_model=ConfigChange, responses=_WRITE, summary="Replace an entry")
async def replace_entry(section: SectionName, key: EntryKey, entry: Entry, writer: Writer) -> ConfigChange:
    """Replace the entry in place; its key may be left out of the body, but not changed."""
    where = config_store.section(section)
    sent = entry.setdefault(where.key, key)
    if sent != key:
        raise unprocessable(
            ["body", where.key], f"{sent!r} differs from {key!r} in the path; keys are not renamed"
        )
    return await writer.commit(
        "replace",
        where,
        key,
        lambda current: (config_store.replace_entry(_current(current).document(), where, key, entry), entry),
    )


@router.delete("/{section}/{key}", response_model=ConfigChange, responses=_WRITE, summary="Remove an entry")
async def delete_entry(section: SectionName, key: EntryKey, writer: Writer) -> ConfigChange:
    """Remove the entry; refused (422) while anything still refers to it, naming what does."""
    where = config_store.section(section)
    return await writer.commit(
        "delete",
        where,
        key,
        lambda current: config_store.delete_entry(_current(current).document(), where, key),
    )
