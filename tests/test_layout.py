"""The packages import one another along the data flow (shared/STYLE.md): every package may import
`hub`, `hub` imports none of the others, only `offsite` (the front door) imports `offsite`, and the
graph between packages has no cycle. Read from the source with `ast`, imports inside functions
and under TYPE_CHECKING included. And the hub runs on the core dependencies alone."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("offsite", "hub", "capture", "vision", "iot", "edge", "api")
ABOVE_HUB = {"offsite", "capture", "vision", "iot", "edge", "api"}


def imported_packages(path: Path) -> set[str]:
    """The packages of this repository that the module at `path` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found & set(PACKAGES)


def module_imports() -> dict[str, set[str]]:
    """Each module of the packages (a repository path) -> the packages it imports."""
    return {
        str(path.relative_to(REPO)): imported_packages(path)
        for package in PACKAGES
        if (REPO / package).is_dir()
        for path in sorted((REPO / package).rglob("*.py"))
    }


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, imported in modules.items():
        package = module.partition("/")[0]
        graph.setdefault(package, set()).update(imported - {package})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as the packages along it (first repeated last), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            cycle = visit(nxt, [*path, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def test_the_packages_import_one_another_without_a_cycle() -> None:
    cycle = find_cycle(package_graph(module_imports()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_hub_imports_no_package_above_it() -> None:
    wrong = {
        m: sorted(i & ABOVE_HUB)
        for m, i in module_imports().items()
        if m.startswith("hub/") and i & ABOVE_HUB
    }
    assert not wrong, f"hub is the ground floor; these modules import upward: {wrong}"


def test_only_the_front_door_imports_offsite() -> None:
    wrong = sorted(m for m, i in module_imports().items() if "offsite" in i and not m.startswith("offsite/"))
    assert not wrong, f"offsite is imported by nothing but itself: {wrong}"


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"a"}}, ["a", "b", "a"]),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_a_cycle_is_found_and_named(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_imports_are_read_wherever_they_sit(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nimport hub.config\nif TYPE_CHECKING:\n    from api.app import x\n"
        "def f():\n    from offsite import demo\nfrom . import sibling\n",
        encoding="utf-8",
    )
    assert imported_packages(source) == {"hub", "api", "offsite"}


BLOCKER = """
import importlib, importlib.abc, pkgutil, sys
blocked = set(sys.argv[1].split(","))

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not a core dependency)", name=name)
        return None

sys.meta_path.insert(0, Absent())
for package in sys.argv[2].split(","):
    for found in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        importlib.import_module(found.name)
importlib.import_module("offsite.cli")
"""


def test_the_hub_starts_on_the_core_dependencies() -> None:
    """`pip install offsite` (no extras) runs the hub: every module of `hub`, `api` and `iot` and
    the command line import without a package that only an extra (vision, test, ...) brings. Two
    slipped through once: httpx (the test extra) under the edge uplink, Pillow (vision) under
    POST /edge/frames."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {Requirement(r).name.lower().replace("_", "-") for r in requirements}

    core = names(project["dependencies"])
    extra = set().union(*(names(r) for r in project["optional-dependencies"].values())) - core - {"offsite"}
    blocked = {
        module
        for module, dists in packages_distributions().items()
        if dists and all(d.lower().replace("_", "-") in extra for d in dists)
    }
    assert {"cv2", "onnxruntime", "pytest"} <= blocked  # the extras are known by their modules
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(sorted(blocked)), "hub,api,iot"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
