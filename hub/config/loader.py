"""Read a deployment file and report every problem with its path, line and what was expected."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.config.deployment import RETIRED, Deployment
from hub.config.references import reference_problems
from hub.config.rules import NOT_EVALUATED

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a config file."""

    path: str  # e.g. objects[3].credit_code
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '(top level)'}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; `problems` lists everything wrong with it."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


@dataclass(frozen=True)
class LoadedConfig:
    deployment: Deployment
    sha256: str  # of the file's bytes: the config version records refer to
    text: str


def _unindexed(loc: Loc) -> str:
    """``("objects", 3, "risk_grade")`` -> ``objects.risk_grade``: a field wherever it is listed."""
    return ".".join(str(part) for part in loc if isinstance(part, str))


def format_loc(loc: Iterable[str | int]) -> str:
    """``("objects", 3, "credit_code")`` -> ``objects[3].credit_code``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _key(node: yaml.Node) -> str | int:
    """A mapping key as pydantic reports it: integer keys (risk classes) stay integers."""
    value = str(node.value)
    return int(value) if node.tag.endswith(":int") else value


def _line_index(node: yaml.Node | None, loc: Loc = ()) -> Iterator[tuple[Loc, int]]:
    """Every path in a composed YAML document with its 1-based line."""
    if node is None:
        return
    yield loc, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*loc, _key(key))
            yield path, key.start_mark.line + 1
            for sub, line in _line_index(value, path):
                if sub != path:
                    yield sub, line
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            yield from _line_index(value, (*loc, index))


def _duplicate_keys(node: yaml.Node | None, loc: Loc = ()) -> Iterator[ConfigProblem]:
    """Keys given twice in one mapping: YAML keeps the last silently, which hides a whole section."""
    if isinstance(node, yaml.MappingNode):
        first: dict[str | int, int] = {}
        for key, value in node.value:
            name, line = _key(key), key.start_mark.line + 1
            if name in first:
                path = format_loc((*loc, name))
                yield ConfigProblem(path, f"duplicate key, the first is on line {first[name]}", line)
            first.setdefault(name, line)
            yield from _duplicate_keys(value, (*loc, name))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            yield from _duplicate_keys(value, (*loc, index))


def _tags(node: dict[Any, Any]) -> tuple[object, ...]:
    return node.get("type"), node.get("kind")


def _strip_union_tags(loc: Loc, data: Any) -> Loc:
    """Drop the discriminator tag pydantic puts in paths inside tagged unions (rules[2].absence.zone,
    outputs[0].webhook.url): a rule's `type`, an output's `kind`."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and part in _tags(node):
            continue
        kept.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(kept)


_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling; see the example configs)",
}


def _error_locs(error: ValidationError, data: Any) -> list[Loc]:
    """Where each of the error's problems is, as paths into `data` (union tags and dict keys dropped)."""
    locs = [_strip_union_tags(tuple(item["loc"]), data) for item in error.errors(include_url=False)]
    return [tuple(part for part in loc if part != "[key]") for loc in locs]


def _validation_problems(error: ValidationError, data: Any, lines: dict[Loc, int]) -> list[ConfigProblem]:
    problems = []
    for item, loc in zip(error.errors(include_url=False), _error_locs(error, data), strict=True):
        message = _MESSAGES.get(item["type"], item["msg"])
        ctx = item.get("ctx") or {}
        if item["type"] == "union_tag_invalid":
            tag = str(ctx.get("tag"))
            known = f"unknown type {tag!r}; expected one of {ctx.get('expected_tags')}"
            message = NOT_EVALUATED.get(tag, known)
        elif item["type"] == "extra_forbidden" and _unindexed(loc) in RETIRED:
            message = RETIRED[_unindexed(loc)]
        elif item["type"] in {"literal_error", "enum"}:
            message = f"{message}, got {item['input']!r}"
        elif item["type"] == "string_pattern_mismatch":
            message = f"{item['input']!r} does not have the expected form ({ctx.get('pattern')})"
        message = message.removeprefix("Value error, ")
        line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), None)
        problems.append(ConfigProblem(format_loc(loc), message, line))
    return problems


# What a reference problem names (its message starts "unknown KIND" or "KIND '...'"), and the
# section that defines it: when the schema refused an entry there, such a problem proves nothing.
_SECTION_OF_KIND = {
    "object": "objects",
    "department": "departments",
    "site": "sites",
    "supervision item": "items",
    "rule": "rules",
    "model": "vision.models",
    "sensor": "sensors",
    "metric": "sensors",
    "camera": "cameras",
    "zone": "zones",
    "line": "lines",
}


@dataclass
class _Valid:
    """The part of a document that passed the schema: fields, then entries, refused by it left out."""

    data: dict[str, Any]
    kept: dict[Loc, list[int]] = field(default_factory=dict)  # list path -> original index per entry
    damaged: set[str] = field(default_factory=set)  # sections with an entry left out: cameras, ...

    def leave_out(self, locs: Iterable[Loc], *, fields: bool) -> None:
        """With `fields`, drop each refused field of a mapping (its default stands in, or its absence
        is refused next round); otherwise, and for a missing field, drop the list entry the path
        runs through (a camera, a rule)."""
        entries: dict[Loc, set[int]] = {}
        for loc in locs:
            parent = self.value(loc[:-1]) if loc else None
            if fields and isinstance(parent, dict) and loc[-1] in parent:
                del parent[loc[-1]]
                continue
            node: Any = self.data
            for n, part in enumerate(loc):
                if isinstance(node, list) and isinstance(part, int):
                    entries.setdefault(loc[:n], set()).add(part)
                    break
                node = node.get(part) if isinstance(node, dict) else None
        for path, indexes in entries.items():
            parent = self._at(self.data, path[:-1])
            items = parent[path[-1]]
            origin = self.kept.get(path, list(range(len(items))))
            self.damaged.add(format_loc(path))
            parent[path[-1]] = [items[i] for i in range(len(items)) if i not in indexes]
            self.kept[path] = [origin[i] for i in range(len(items)) if i not in indexes]

    @staticmethod
    def _at(node: Any, path: Loc) -> Any:
        for part in path:
            node = node[part]
        return node

    def original(self, loc: Loc) -> Loc:
        """A path in the valid part as a path in the file."""
        for path, origin in self.kept.items():
            n = len(path)
            index = loc[n] if loc[:n] == path and len(loc) > n else None
            if isinstance(index, int):
                return (*path, origin[index], *loc[n + 1 :])
        return loc

    def proves_nothing(self, message: str) -> bool:
        """Whether a reference problem names a kind of thing whose section lost an entry."""
        kinds = [kind for kind, section in _SECTION_OF_KIND.items() if section in self.damaged]
        return any(message.startswith((f"unknown {kind} ", f"{kind} ")) for kind in kinds)

    def value(self, loc: Loc) -> Any:
        try:
            return self._at(self.data, loc)
        except (KeyError, IndexError, TypeError):
            return None


def _references_despite(
    error: ValidationError, data: dict[str, Any], lines: dict[Loc, int]
) -> list[ConfigProblem]:
    """The reference problems of the sections that did validate, so that one run of `config check`
    shows both stages. References into a section the schema refused an entry of are left out (an
    unknown camera may be the one refused);
    when the rest does not validate without the refused parts (a required top-level field), none."""
    valid = _Valid(copy.deepcopy(data))
    for attempt in range(3):
        valid.leave_out(_error_locs(error, valid.data), fields=attempt == 0)
        valid.data.setdefault("name", "?")  # nothing refers to the name: its absence hides nothing
        try:
            deployment = Deployment.model_validate(valid.data)
        except ValidationError as again:
            error = again
            continue
        problems = []
        for loc, message in reference_problems(deployment):
            if valid.proves_nothing(message):
                continue
            where = valid.original(loc)
            problems.append(ConfigProblem(format_loc(where), message, lines.get(where)))
        return problems
    return []


def parse_config(text: str, source: str = "<config>") -> Deployment:
    """Validate YAML text as a deployment; raise ConfigError listing every problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" (column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(source, [ConfigProblem("", f"not valid YAML: {what}{where}", line)]) from None
    lines = dict(_line_index(node))
    duplicates = list(_duplicate_keys(node))
    if duplicates:
        raise ConfigError(source, duplicates)
    if not isinstance(data, dict):
        raise ConfigError(source, [ConfigProblem("", "expected a mapping of sections (name, sites, ...)", 1)])
    try:
        deployment = Deployment.model_validate(data)
    except ValidationError as exc:
        problems = _validation_problems(exc, data, lines) + _references_despite(exc, data, lines)
        raise ConfigError(source, problems) from None
    problems = [
        ConfigProblem(format_loc(loc), message, lines.get(loc))
        for loc, message in reference_problems(deployment)
    ]
    if problems:
        raise ConfigError(source, problems)
    return deployment


def load_config(path: str | Path) -> LoadedConfig:
    """Read and validate a deployment file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"cannot read file: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [ConfigProblem("", f"not UTF-8 text: {exc}")]) from None
    return LoadedConfig(parse_config(text, str(path)), hashlib.sha256(raw).hexdigest(), text)
