"""Every field of the deployment schema is read by the code that runs the deployment.

A setting that validates and then does nothing misleads the administrator who sets it. This test
walks every model reachable from `Deployment` and looks for each field's name being read (as an
attribute, a string key or a `getattr`) in the packages that run a deployment. Code that only
checks the config (validators, cross-reference checks, the loader) does not count as reading it.

It cannot tell two models' fields of the same name apart (`name` is read somewhere for sure):
it guards the distinctive ones, which are the ones that end up forgotten (a queue size, a client
id, a mode).
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from hub.config import Deployment

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("hub", "api", "iot", "vision", "capture", "edge", "offsite")
CONFIG = ROOT / "hub" / "config"
# Modules of hub/config that only check or load a deployment: a read there uses nothing.
CHECKING_ONLY = {"references.py", "loader.py"}
VALIDATORS = {"field_validator", "model_validator"}

# Fields consumed without naming them, each with where and why. Keep this short and explained.
GENERIC: dict[str, str] = {
    "Retention.detections": "hub/runtime.py: getattr(retention, name) over the time-series tables",
    "Retention.device_health": "hub/runtime.py: getattr(retention, name) over the time-series tables",
}

# Not caught by this walk, because other objects have a `queue`: `iot.queue`, which the ingest
# reads as its Receive Maximum (tests/iot/test_ingest.py checks that it bounds what a worker holds).


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a field's type (lists, dicts, unions, Annotated included)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        for arg in get_args(annotation):
            yield from _models(arg)


def schema_fields() -> set[str]:
    """`Model.field` for every field of every model reachable from `Deployment`."""
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Deployment]
    fields = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            fields.add(f"{model.__name__}.{name}")
            todo.extend(_models(info.annotation))
    return fields


def _is_validator(node: ast.AST) -> bool:
    if not isinstance(node, ast.FunctionDef):
        return False
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name) and target.id in VALIDATORS:
            return True
    return False


def _reads(node: ast.AST, in_config: bool) -> Iterator[str]:
    """Names read in a tree: `x.name`, `x["name"]`, `x.get("name")`, `getattr(x, "name")`.

    Outside hub/config, `self.name` is an object's own attribute, never a config field (the
    models live in hub/config), so it does not count: an ingest's `self.client_id` is not
    `broker.client_id`.
    """
    if _is_validator(node):
        return
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        own = isinstance(node.value, ast.Name) and node.value.id == "self"
        if in_config or not own:
            yield node.attr
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        yield str(node.slice.value)
    elif isinstance(node, ast.Call):
        func, key = node.func, None
        if isinstance(func, ast.Name) and func.id == "getattr" and len(node.args) >= 2:
            key = node.args[1]
        elif isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value
    for child in ast.iter_child_nodes(node):
        yield from _reads(child, in_config)


@cache
def names_read() -> frozenset[str]:
    """Every name read in the packages that run a deployment."""
    found: set[str] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.parent == CONFIG and path.name in CHECKING_ONLY:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            found.update(_reads(tree, in_config=path.parent == CONFIG))
    return frozenset(found)


def test_every_deployment_field_is_read_somewhere() -> None:
    unread = {
        field for field in schema_fields() if field.split(".")[1] not in names_read() and field not in GENERIC
    }
    assert sorted(unread) == [], (
        "fields read nowhere: make them work or refuse them (see RETIRED and NOT_EVALUATED in hub/config)"
    )


def test_the_walk_sees_the_whole_schema() -> None:
    """The walk reaches nested models, union members and dict values, so the check above means something."""
    fields = schema_fields()
    for field in ("Deployment.iot", "IotIngest.queue", "Threshold.clear_below", "Retention.compress_after"):
        assert field in fields
    assert any(field.startswith("ClueDeadline.") for field in fields)  # a dict's values
