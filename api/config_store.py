"""Edits of the deployment in force one entry at a time, each kept (by `hub.store.configs`, the
tables' one writer) only when the whole deployment still validates."""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from hub import audit
from hub.config import ConfigError, ConfigProblem, Deployment, parse_config
from hub.config.loader import format_loc
from hub.storable import unstorable
from hub.store import configs
from hub.store.configs import (  # the API's names for the store's, which its routers use
    ConfigVersion,
    Document,
    VersionMismatch,
    active_config,
    active_version,
    lock_active,
)
from hub.store.db import Connection
from hub.workflow import RecordNotFound


@dataclass(frozen=True)
class Section:
    """A list section of the deployment whose entries are edited one by one, by their key."""

    name: str  # in URLs: /config/{name}
    location: tuple[str, ...]  # where the list sits in the document
    key: str  # the field that names an entry


SECTIONS: dict[str, Section] = {
    s.name: s
    for s in (
        Section("sites", ("sites",), "id"),
        Section("departments", ("departments",), "id"),
        Section("objects", ("objects",), "credit_code"),
        Section("items", ("items",), "code"),
        Section("routing", ("routing",), "id"),
        Section("cameras", ("cameras",), "id"),
        Section("zones", ("zones",), "id"),
        Section("lines", ("lines",), "id"),
        Section("sensors", ("sensors",), "id"),
        Section("gateways", ("gateways",), "id"),
        Section("rules", ("rules",), "id"),
        Section("models", ("vision", "models"), "id"),
    )
}


class EntryExists(Exception):
    """An entry with that key is already in the section."""


class ConfigInvalid(Exception):
    """The edited deployment would not load; `problems` lists everything wrong, by document path."""

    def __init__(self, problems: list[ConfigProblem], document: Document) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems
        self.document = document


def section(name: str) -> Section:
    """The list section called `name`; RecordNotFound naming the known ones otherwise."""
    found = SECTIONS.get(name)
    if found is None:
        raise RecordNotFound(f"no config section {name!r}; known: {', '.join(SECTIONS)}")
    return found


def entries(document: Document, where: Section) -> list[Any]:
    """The section's entries (the list itself, so edits of a copy go through it)."""
    node: Any = document
    for part in where.location:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, list) else []


def _index(document: Document, where: Section, key: str) -> int:
    for index, entry in enumerate(entries(document, where)):
        if isinstance(entry, dict) and str(entry.get(where.key)) == key:
            return index
    raise RecordNotFound(f"no {where.name} entry with {where.key} {key!r}")


def get_entry(document: Document, where: Section, key: str) -> Any:
    return entries(document, where)[_index(document, where, key)]


def _with_list(document: Document, where: Section) -> tuple[Document, list[Any]]:
    """A deep copy of the document and its section list, created where it was absent."""
    edited = copy.deepcopy(document)
    node = edited
    for part in where.location[:-1]:
        node = node.setdefault(part, {})
    listed = node.get(where.location[-1])
    if not isinstance(listed, list):
        listed = node[where.location[-1]] = []
    return edited, listed


def create_entry(document: Document, where: Section, entry: Document) -> Document:
    """The document with `entry` appended to the section; EntryExists when its key is taken."""
    key = str(entry.get(where.key))
    try:
        _index(document, where, key)
    except RecordNotFound:
        edited, listed = _with_list(document, where)
        listed.append(entry)
        return edited
    raise EntryExists(f"{where.name} already has an entry with {where.key} {key!r}")


def replace_entry(document: Document, where: Section, key: str, entry: Document) -> Document:
    """The document with the entry named `key` replaced in place (its position is kept)."""
    index = _index(document, where, key)
    edited, listed = _with_list(document, where)
    listed[index] = entry
    return edited


def delete_entry(document: Document, where: Section, key: str) -> tuple[Document, Any]:
    """The document without the entry named `key`, and that entry."""
    index = _index(document, where, key)
    edited, listed = _with_list(document, where)
    return edited, listed.pop(index)


def from_json(document: Document) -> Document:
    """A document sent as JSON: risk classes, JSON's only non-string keys, become integers again."""
    deadlines = document.get("clue_deadlines")
    if isinstance(deadlines, dict):
        document = {
            **document,
            "clue_deadlines": {int(k) if k in ("1", "2", "3") else k: v for k, v in deadlines.items()},
        }
    return document


class _Dumper(yaml.SafeDumper):
    """Block style, except lists of scalars (and of such lists: polygons) on one line."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _flat(value: Any) -> bool:
    return not isinstance(value, dict | list) or (
        isinstance(value, list) and all(not isinstance(v, dict | list) for v in value)
    )


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=all(map(_flat, value)))


_Dumper.add_representer(list, _represent_list)


def render(document: Document) -> str:
    """The document as YAML text, in the order of its sections (comments are not kept)."""
    return yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


_MAX_VALUES = 200_000  # a deployment of thousands of devices has far fewer; aliases can hide billions


def _expanded_size(value: Any, seen: dict[int, int]) -> int:
    """How many values the document holds with aliases expanded (each shared node sized once)."""
    if not isinstance(value, dict | list):
        return 1
    if seen.get(id(value)) == -1:  # an alias inside its own anchor: endless
        return _MAX_VALUES + 1
    if id(value) not in seen:
        seen[id(value)] = -1
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        seen[id(value)] = 1 + sum(_expanded_size(child, seen) for child in children)
    return seen[id(value)]


def validate(document: Document | str) -> tuple[str, Deployment]:
    """The text to store and the deployment it loads as; ConfigInvalid with every problem."""
    if isinstance(document, str):
        text = document
        try:  # a text that does not parse is reported by parse_config, with its line
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        except RecursionError:
            raise ConfigInvalid([ConfigProblem("", "nested too deeply to read")], {}) from None
    else:
        text, data = render(document), document
    if _expanded_size(data, {}) > _MAX_VALUES:
        problems = [ConfigProblem("", f"over {_MAX_VALUES} values once YAML aliases are expanded")]
    else:
        problems = [ConfigProblem(format_loc(loc), why) for loc, why in unstorable(data)]
    if problems:
        raise ConfigInvalid(problems, data if isinstance(data, dict) else {})
    try:
        deployment = parse_config(text, "deployment")
    except ConfigError as exc:
        raise ConfigInvalid(exc.problems, data if isinstance(data, dict) else {}) from None
    return text, deployment


def save(
    conn: Connection, document: Document | str, actor: str, at: datetime, detail: dict[str, Any]
) -> ConfigVersion:
    """Validate, then keep the deployment as the version in force and audit who did it.

    Call it after `lock_active` in the same transaction. A YAML text is kept as it is, comments
    and all; a document is written out as YAML.
    """
    text, deployment = validate(document)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    configs.keep(conn, digest, deployment.name, text, actor, at)
    audit.append(conn, actor, "config.update", f"config:{digest}", detail, at)
    return ConfigVersion(digest, text)


__all__ = [
    "ConfigInvalid",
    "ConfigVersion",
    "Document",
    "EntryExists",
    "Section",
    "VersionMismatch",
    "active_config",
    "active_version",
    "lock_active",
]
