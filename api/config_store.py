"""The deployment in force, as stored in the database: what `offsite config export` writes, and
edits of it one entry at a time, each kept only when the whole deployment still validates."""

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
from hub.store.db import Connection
from hub.workflow import RecordNotFound

Document = dict[str, Any]
_LOCK_KEY = 0x0FF5_C0F1  # serialises config writers, so each edit starts from the version in force


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


@dataclass(frozen=True)
class ConfigVersion:
    """One stored deployment text and its SHA-256 (the version records refer to, and the ETag)."""

    sha256: str
    text: str

    def document(self) -> Document:
        """The text as data, as written: defaults left out, durations as given."""
        data = yaml.safe_load(self.text)
        return data if isinstance(data, dict) else {}


class EntryExists(Exception):
    """An entry with that key is already in the section."""


class VersionMismatch(Exception):
    """The caller edited a version that is no longer in force."""


class ConfigInvalid(Exception):
    """The edited deployment would not load; `problems` lists everything wrong, by document path."""

    def __init__(self, problems: list[ConfigProblem], document: Document) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems
        self.document = document


def active_version(conn: Connection) -> ConfigVersion | None:
    """The version in force: the one set through the API, else the one loaded last."""
    row = conn.execute(
        "SELECT v.sha256, v.body FROM config_active a JOIN config_versions v ON v.sha256 = a.sha256"
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT sha256, body FROM config_versions ORDER BY loaded_at DESC LIMIT 1"
        ).fetchone()
    return ConfigVersion(str(row[0]), str(row[1])) if row else None


def active_config(conn: Connection) -> str | None:
    """The YAML text in force: the one set through the API, else the one loaded last."""
    version = active_version(conn)
    return version.text if version else None


def lock_active(conn: Connection, if_match: set[str] | None = None) -> ConfigVersion | None:
    """Take the writers' lock for this transaction and return the version in force.

    `if_match` holds the ETags the caller based its edit on (`*` for any): VersionMismatch when
    the version in force is none of them.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    current = active_version(conn)
    if if_match is not None and "*" not in if_match and (current is None or current.sha256 not in if_match):
        raise VersionMismatch(current.sha256 if current else "")
    return current


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
    conn.execute(
        "INSERT INTO config_versions (sha256, name, body) VALUES (%s, %s, %s)"
        " ON CONFLICT (sha256) DO NOTHING",
        (digest, deployment.name, text),
    )
    conn.execute(
        "INSERT INTO config_active (sha256, set_at, set_by) VALUES (%s, %s, %s) ON CONFLICT (one)"
        " DO UPDATE SET sha256 = EXCLUDED.sha256, set_at = EXCLUDED.set_at, set_by = EXCLUDED.set_by",
        (digest, at, actor),
    )
    audit.append(conn, actor, "config.update", f"config:{digest}", detail, at)
    return ConfigVersion(digest, text)
