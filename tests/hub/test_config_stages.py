"""`config check` reports the schema stage and the reference stage of one file in one run.

References are checked in every section that validated; a reference into a section that lost an
entry to the schema proves nothing (the unknown camera may be the refused one) and is left out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.hub.test_config import BASE, check, delete, dump, problems_of, set_

Change = Callable[[dict[str, Any]], None]


def both(*changes: Change) -> Change:
    def change(config: dict[str, Any]) -> None:
        for one in changes:
            one(config)

    return change


CASES = [
    (
        "misspelled-field-and-camera",
        both(
            delete(("rules", 0, "max_absence")),
            set_(("rules", 0, "max_absense"), "10m"),
            set_(("zones", 1, "camera"), "cam3"),
        ),
        {"rules[0].max_absence", "rules[0].max_absense", "zones[1].camera"},
    ),
    (
        # rules[0] is refused as a whole; rules[2] keeps its number in the report
        "index-of-a-later-entry",
        both(delete(("rules", 0, "type")), set_(("rules", 2, "line"), "exit")),
        {"rules[0]", "rules[2].line"},
    ),
    (
        "no-name-hides-nothing",
        both(delete(("name",)), set_(("cameras", 1, "site"), "plaza")),
        {"name", "cameras[1].site"},
    ),
    (
        # cam1 is refused: that the rules name an unknown camera proves nothing, the sensor does
        "reference-into-a-refused-section",
        both(delete(("cameras", 0, "url")), set_(("rules", 1, "sensor"), "humidity")),
        {"cameras[0].url", "rules[1].sensor"},
    ),
    (
        "no-sites-no-references",
        both(delete(("sites",)), set_(("rules", 1, "sensor"), "humidity")),
        {"sites"},
    ),
]


@pytest.mark.parametrize(("change", "paths"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_schema_and_reference_problems_together(change: Change, paths: set[str]) -> None:
    config = copy.deepcopy(BASE)
    change(config)
    text = dump(config)
    problems = problems_of(text)
    assert {p.path for p in problems} == paths, problems
    for problem in problems:
        assert problem.line is not None, problem


def test_cli_reports_a_schema_and_a_reference_error_of_one_file_in_one_run(tmp_path: Path) -> None:
    config = copy.deepcopy(BASE)
    config["cameras"][1]["fsp"] = 5  # a misspelled field: the schema stage
    config["zones"][1]["camera"] = "cam-2"  # a misspelled camera: the reference stage
    path = tmp_path / "two-stages.yaml"
    path.write_text(dump(config), encoding="utf-8")
    result = check(path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}: line ") and "cameras[1].fsp: unknown field" in lines[0]
    assert lines[1].startswith(f"{path}: line ")
    assert lines[1].endswith("zones[1].camera: unknown camera 'cam-2'; known: cam1, cam2")
    assert result.stderr == ""
