"""The deployment config: example files, error reports, settings, schedules and the CLI check."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from hub.config import ConfigError, ConfigProblem, Deployment, Settings, load_config, parse_config
from hub.config.domain import Schedule
from hub.config.types import in_window, parse_duration, window_bounds

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "configs").glob("*.yaml"))

OBJECT = "91320106MA1MX5K26G"
OFFICE_CODE = "11320106MB1536720Q"
ITEM = "32010600100001"

# A small deployment using every cross-reference the checks know about. Each bad case below
# copies it and changes one thing.
BASE: dict[str, Any] = {
    "name": "鼓楼区测试部署",
    "timezone": "Asia/Shanghai",
    "sites": [{"id": "hall", "name": "政务服务大厅", "area_code": "320106", "object": OBJECT}],
    "departments": [{"id": "office", "name": "政务服务管理办公室", "code": OFFICE_CODE}],
    "objects": [{"credit_code": OBJECT, "name": "南京某餐饮管理有限公司", "industry": "catering"}],
    "items": [
        {
            "code": ITEM,
            "name": "政务服务窗口工作人员在岗履职情况的监督检查",
            "list_code": "3201060010000101",
            "department": "office",
        }
    ],
    "routing": [
        {
            "id": "hall-to-office",
            "match": {"sites": ["hall"], "items": [ITEM], "rules": ["post-absence"]},
            "department": "office",
        }
    ],
    "clue_deadlines": {
        1: {"claim": "30m", "feedback": "24h"},
        2: {"claim": "4h", "feedback": "7d"},
        3: {"claim": "1d", "feedback": "15d"},
    },
    "cameras": [
        {
            "id": "cam1",
            "name": "1号窗口",
            "site": "hall",
            "url": "rtsp://192.0.2.10:554/Streaming/Channels/101",
            "detect": {"model": "people", "min_confidence": {"person": 0.5}},
        },
        {
            "id": "cam2",
            "name": "等候区",
            "site": "hall",
            "url": "rtsp://192.0.2.11:554/Streaming/Channels/101",
            "detect": {"model": "people"},
        },
    ],
    "vision": {
        "models": [
            {"id": "people", "path": "models/people.onnx", "classes": {"Normal": "person"}},
        ]
    },
    "zones": [
        {"id": "post", "camera": "cam1", "polygon": [[0, 0], [100, 0], [100, 100]]},
        {"id": "seats", "camera": "cam2", "polygon": [[0, 0], [100, 0], [100, 100]]},
    ],
    "lines": [{"id": "gate", "camera": "cam1", "start": [0, 50], "end": [100, 50]}],
    "sensors": [
        {
            "id": "temp",
            "name": "冷库温度",
            "site": "hall",
            "kind": "temperature",
            "metrics": {"temperature": {"unit": "degC", "min": -50, "max": 50}},
        }
    ],
    "rules": [
        {
            "id": "post-absence",
            "type": "absence",
            "name": "窗口离岗",
            "camera": "cam1",
            "zone": "post",
            "max_absence": "10m",
            "schedule": {"days": ["mon", "tue"], "hours": ["09:00-12:00"]},
            "item": ITEM,
            "risk_class": 3,
        },
        {
            "id": "too-warm",
            "type": "threshold",
            "name": "冷库超温",
            "sensor": "temp",
            "metric": "temperature",
            "above": -18,
            "clear_below": -19,
            "duration": "10m",
        },
        {
            "id": "gate-crossing",
            "type": "line_crossing",
            "name": "逆行",
            "camera": "cam1",
            "line": "gate",
            "forbidden": "left_to_right",
        },
    ],
}


def dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, allow_unicode=True)


def problems_of(text: str) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value.problems


def set_(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the base config: put ``value`` at ``path``."""

    def change(config: dict[str, Any]) -> None:
        node: Any = config
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def delete(path: tuple[str | int, ...]) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        node: Any = config
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return change


def add_fall_rule_on_undetected_cam2(config: dict[str, Any]) -> None:
    config["cameras"][1]["detect"] = None
    config["rules"].append({"id": "fall", "type": "fall", "name": "跌倒", "camera": "cam2"})


def add_duplicate_camera(config: dict[str, Any]) -> None:
    config["cameras"].append(dict(config["cameras"][0], name="重复"))


# --- example configs --------------------------------------------------------------------------


def test_examples_exist() -> None:
    assert EXAMPLES, "configs/*.yaml is empty"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_is_valid(path: Path) -> None:
    loaded = load_config(path)
    assert loaded.deployment.sites
    assert len(loaded.sha256) == 64


def test_base_config_is_valid() -> None:
    deployment = parse_config(dump(BASE))
    assert deployment.rule_by_id["post-absence"].risk_class == 3
    assert deployment.clue_deadlines[1].claim == 1800


# --- each kind of mistake: path, message and line ------------------------------------------

# (id, change to BASE, expected path, expected start of message, text on the reported line)
MISTAKES: list[tuple[str, Callable[[dict[str, Any]], None], str, str, str]] = [
    (
        "credit-code-check-digit",
        set_(("objects", 0, "credit_code"), OBJECT[:17] + "0"),
        "objects[0].credit_code",
        "check digit is G, not 0",
        "credit_code: 91320106MA1MX5K260",
    ),
    (
        "credit-code-length",
        set_(("sites", 0, "object"), OBJECT[:17]),
        "sites[0].object",
        "must be 18 characters, got 17",
        "object: 91320106MA1MX5K26",
    ),
    (
        "area-code-province",
        set_(("sites", 0, "area_code"), "990106"),
        "sites[0].area_code",
        "province prefix 99 does not exist in GB/T 2260",
        "area_code: '990106'",
    ),
    (
        "area-code-length",
        set_(("sites", 0, "area_code"), "32010"),
        "sites[0].area_code",
        "must be 6 digits, got '32010'",
        "area_code: '32010'",
    ),
    (
        "unknown-field",
        set_(("cameras", 0, "fps_max"), 5),
        "cameras[0].fps_max",
        "unknown field",
        "fps_max: 5",
    ),
    (
        "unknown-top-level-section",
        set_(("camera",), []),
        "camera",
        "unknown field",
        "camera: []",
    ),
    (
        "missing-field",
        delete(("sensors", 0, "kind")),
        "sensors[0].kind",
        "required field is missing",
        "- id: temp",
    ),
    (
        "missing-rule-field",
        delete(("rules", 0, "max_absence")),
        "rules[0].max_absence",
        "required field is missing",
        "- camera: cam1",
    ),
    (
        "wrong-type",
        set_(("cameras", 0, "fps"), "fast"),
        "cameras[0].fps",
        "Input should be a valid number",
        "fps: fast",
    ),
    (
        "wrong-type-list",
        set_(("rules", 0, "labels"), "person"),
        "rules[0].labels",
        "Input should be a valid list",
        "labels: person",
    ),
    (
        "bad-duration",
        set_(("rules", 0, "max_absence"), "10 minutes"),
        "rules[0].max_absence",
        "'10 minutes' is not a duration",
        "max_absence: 10 minutes",
    ),
    (
        "zero-duration",
        set_(("rules", 1, "duration"), 0),
        "rules[1].duration",
        "Input should be greater than 0",
        "duration: 0",
    ),
    (
        "bad-time-window",
        set_(("rules", 0, "schedule", "hours"), ["9:00-12:00"]),
        "rules[0].schedule.hours[0]",
        "'9:00-12:00' is not a time window",
        "- 9:00-12:00",
    ),
    (
        "empty-time-window",
        set_(("rules", 0, "schedule", "hours"), ["09:00-09:00"]),
        "rules[0].schedule.hours[0]",
        "'09:00-09:00' is empty",
        "- 09:00-09:00",
    ),
    (
        "bad-weekday",
        set_(("rules", 0, "schedule", "days"), ["monday"]),
        "rules[0].schedule.days[0]",
        "Input should be 'mon', 'tue'",
        "- monday",
    ),
    (
        "unknown-rule-type",
        set_(("rules", 0, "type"), "loitering"),
        "rules[0]",
        "unknown type 'loitering'; expected one of 'presence'",
        "- camera: cam1",
    ),
    (
        "unknown-department",
        set_(("items", 0, "department"), "police"),
        "items[0].department",
        "unknown department 'police'; known: office",
        "department: police",
    ),
    (
        "unknown-route-department",
        set_(("routing", 0, "department"), "police"),
        "routing[0].department",
        "unknown department 'police'; known: office",
        "department: police",
    ),
    (
        "unknown-site",
        set_(("cameras", 1, "site"), "plaza"),
        "cameras[1].site",
        "unknown site 'plaza'; known: hall",
        "site: plaza",
    ),
    (
        "unknown-route-site",
        set_(("routing", 0, "match", "sites"), ["plaza"]),
        "routing[0].match.sites[0]",
        "unknown site 'plaza'; known: hall",
        "- plaza",
    ),
    (
        "unknown-object",
        set_(("cameras", 0, "object"), "91350100M000100Y43"),
        "cameras[0].object",
        "unknown object '91350100M000100Y43'",
        "object: 91350100M000100Y43",
    ),
    (
        "unknown-camera",
        set_(("zones", 1, "camera"), "cam9"),
        "zones[1].camera",
        "unknown camera 'cam9'; known: cam1, cam2",
        "camera: cam9",
    ),
    (
        "unknown-model",
        set_(("cameras", 1, "detect", "model"), "vehicles"),
        "cameras[1].detect.model",
        "unknown model 'vehicles'; known: people",
        "model: vehicles",
    ),
    (
        "rule-on-camera-without-detection",
        add_fall_rule_on_undetected_cam2,
        "rules[3].camera",
        "camera 'cam2' has no detect section to feed this rule",
        "camera: cam2",
    ),
    (
        "unknown-zone",
        set_(("rules", 0, "zone"), "counter"),
        "rules[0].zone",
        "unknown zone 'counter'; known: post, seats",
        "zone: counter",
    ),
    (
        "zone-of-another-camera",
        set_(("rules", 0, "zone"), "seats"),
        "rules[0].zone",
        "zone 'seats' belongs to camera 'cam2', not 'cam1'",
        "zone: seats",
    ),
    (
        "unknown-line",
        set_(("rules", 2, "line"), "exit"),
        "rules[2].line",
        "unknown line 'exit'; known: gate",
        "line: exit",
    ),
    (
        "unknown-sensor",
        set_(("rules", 1, "sensor"), "humidity"),
        "rules[1].sensor",
        "unknown sensor 'humidity'; known: temp",
        "sensor: humidity",
    ),
    (
        "unknown-metric",
        set_(("rules", 1, "metric"), "rh"),
        "rules[1].metric",
        "unknown metric 'rh'; known: temperature",
        "metric: rh",
    ),
    (
        "unknown-item-in-rule",
        set_(("rules", 0, "item"), "32010600199999"),
        "rules[0].item",
        "unknown supervision item '32010600199999'; known: 32010600100001",
        "item: '32010600199999'",
    ),
    (
        "unknown-item-in-route",
        set_(("routing", 0, "match", "items"), ["32010600199999"]),
        "routing[0].match.items[0]",
        "unknown supervision item '32010600199999'",
        "- '32010600199999'",
    ),
    (
        "clue-without-item",
        delete(("rules", 0, "item")),
        "rules[0].risk_class",
        "a rule that raises clues needs a supervision item",
        "risk_class: 3",
    ),
    (
        "duplicate-id",
        add_duplicate_camera,
        "cameras[2].id",
        "duplicate id 'cam1' (also cameras[0])",
        "id: cam1",
    ),
    (
        "duplicate-department-code",
        set_(
            ("departments",), [*BASE["departments"], {"id": "other", "name": "另一部门", "code": OFFICE_CODE}]
        ),
        "departments[1].code",
        f"duplicate code '{OFFICE_CODE}' (also departments[0])",
        f"- code: {OFFICE_CODE}",
    ),
    (
        "feedback-not-after-claim",
        set_(("clue_deadlines", 2), {"claim": "4h", "feedback": "4h"}),
        "clue_deadlines[2]",
        "feedback deadline must be longer than the claim deadline",
        "2:",
    ),
    (
        "missing-risk-class",
        delete(("clue_deadlines", 3)),
        "clue_deadlines",
        "deadlines missing for risk class(es) [3]",
        "clue_deadlines:",
    ),
    (
        "unknown-timezone",
        set_(("timezone",), "Asia/Beijing"),
        "timezone",
        "unknown timezone 'Asia/Beijing'; use an IANA name such as Asia/Shanghai",
        "timezone: Asia/Beijing",
    ),
    (
        "offline-with-two-devices",
        set_(
            ("rules", 1),
            {"id": "dead", "type": "offline", "name": "离线", "camera": "cam1", "sensor": "temp"},
        ),
        "rules[1]",
        "set exactly one of sensor or camera",
        "- camera: cam1",
    ),
]


def fusion(rule_id: str, *parts: str, site: str = "hall", **more: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the base config: a fusion rule of `parts` (all_of) appended to its rules."""

    def change(config: dict[str, Any]) -> None:
        rule = {"id": rule_id, "type": "fusion", "name": "组合", "site": site, "all_of": list(parts), **more}
        config["rules"].append(rule)

    return change


def with_yard_rule(then: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """A second site, yard, with a sensor rule of its own; then `then`."""

    def change(config: dict[str, Any]) -> None:
        config["sites"].append({"id": "yard", "name": "停车场", "area_code": "320106"})
        config["sensors"].append(dict(config["sensors"][0], id="yard-temp", site="yard"))
        config["rules"].append(dict(config["rules"][1], id="yard-warm", sensor="yard-temp"))
        then(config)

    return change


def fusion_loop(config: dict[str, Any]) -> None:
    fusion("loop-one", "post-absence", "loop-two")(config)
    fusion("loop-two", "too-warm", "loop-one")(config)


# A fusion joins known rules of its own site, never itself, nor through other fusions.
MISTAKES += [
    (
        "fusion-of-an-unknown-rule",
        fusion("both", "post-absence", "no-such-rule"),
        "rules[3].all_of[1]",
        "unknown rule 'no-such-rule'",
        "- no-such-rule",
    ),
    (
        "fusion-of-another-sites-rule",
        with_yard_rule(fusion("both", "post-absence", "yard-warm")),
        "rules[4].all_of[1]",
        "rule 'yard-warm' belongs to site 'yard', not 'hall': a fusion joins rules of its own site",
        "- yard-warm",
    ),
    (
        "fusion-of-an-unknown-site",
        fusion("both", "post-absence", "too-warm", site="nowhere"),
        "rules[3].site",
        "unknown site 'nowhere'",
        "site: nowhere",
    ),
    (
        "fusion-of-itself",
        fusion("both", "post-absence", "both"),
        "rules[3].all_of[1]",
        "fusion 'both' names itself",
        "- both",
    ),
    (
        "fusion-cycle",
        fusion_loop,
        "rules[4].all_of[1]",
        "fusion rules form a cycle: loop-one -> loop-two -> loop-one",
        "- loop-one",
    ),
    (
        "fusion-wanting-a-rule-and-its-absence",
        fusion("both", "post-absence", none_of=["post-absence"]),
        "rules[3]",
        "post-absence in both all_of and none_of: the fusion could never fire",
        "- all_of:",  # the rule's first line (keys sorted)
    ),
    (
        "fusion-of-one-rule",
        fusion("both", "post-absence"),
        "rules[3]",
        "a fusion needs at least two rules in all_of and none_of together",
        "- all_of:",
    ),
]


def test_a_fusion_of_rules_of_its_site_is_valid() -> None:
    config = copy.deepcopy(BASE)
    fusion("both", "post-absence", "too-warm", none_of=["gate-crossing"], window="5m")(config)
    deployment = parse_config(dump(config))
    assert deployment.rule_site["both"] == "hall"
    assert deployment.rule_source["both"] == "rule:both"


@pytest.mark.parametrize(
    ("change", "path", "message", "line_text"),
    [pytest.param(*case[1:], id=case[0]) for case in MISTAKES],
)
def test_mistake_is_reported_with_path_and_line(
    change: Callable[[dict[str, Any]], None], path: str, message: str, line_text: str
) -> None:
    config = copy.deepcopy(BASE)
    change(config)
    text = dump(config)
    problems = problems_of(text)
    assert [p.path for p in problems] == [path], problems
    (problem,) = problems
    assert problem.message.startswith(message), problem.message
    assert problem.line is not None
    assert line_text in text.splitlines()[problem.line - 1]
    assert str(problem) == f"line {problem.line}: {path}: {problem.message}"


@pytest.mark.parametrize("window", ["24:30-06:00", "08:00-25:00", "8:00-12:00", "12:00-12:00"])
def test_impossible_time_windows_are_refused(window: str) -> None:
    with pytest.raises(ValidationError, match=r"time window|is empty"):
        Schedule(hours=[window])


def test_a_key_given_twice_is_reported() -> None:
    text = dump(BASE) + "rules: []\n"  # a second rules section would silently replace the first
    (problem,) = problems_of(text)
    assert problem.path == "rules"
    assert problem.message.startswith("duplicate key, the first is on line ")
    assert problem.line == len(text.splitlines())


@pytest.mark.parametrize(
    ("text", "line"),
    [
        pytest.param("name: x\n  bad: y\n", 2, id="bad-indent"),
        pytest.param("name: test\nsites: [hall\nrules: []\n", 3, id="unclosed-list"),
        pytest.param("name: x\nsites:\n\t- id: hall\n", 3, id="tab"),
    ],
)
def test_invalid_yaml_is_reported_with_its_line(text: str, line: int) -> None:
    (problem,) = problems_of(text)
    assert problem.message.startswith("not valid YAML")
    assert problem.line == line
    assert problem.path == ""


@pytest.mark.parametrize("text", ["- hall\n- road\n", "just text\n", "", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    (problem,) = problems_of(text)
    assert str(problem) == "line 1: (top level): expected a mapping of sections (name, sites, ...)"


def test_independent_field_errors_are_all_reported() -> None:
    config = copy.deepcopy(BASE)
    config["sites"][0]["area_code"] = "990106"
    config["objects"][0]["credit_code"] = OBJECT[:17] + "0"
    config["cameras"][1]["fps_max"] = 5
    config["rules"][0]["max_absence"] = "ten minutes"
    config["timezone"] = "Mars/Olympus"
    problems = problems_of(dump(config))
    assert {p.path for p in problems} == {
        "sites[0].area_code",
        "objects[0].credit_code",
        "cameras[1].fps_max",
        "rules[0].max_absence",
        "timezone",
    }
    assert all(p.line for p in problems)
    assert len({p.line for p in problems}) == len(problems)


def test_independent_reference_errors_are_all_reported() -> None:
    config = copy.deepcopy(BASE)
    config["items"][0]["department"] = "police"
    config["cameras"][1]["site"] = "plaza"
    config["rules"][0]["zone"] = "seats"
    config["rules"][1]["metric"] = "rh"
    config["rules"].append(dict(config["rules"][2]))
    problems = problems_of(dump(config))
    assert [p.path for p in problems] == [
        "rules[3].id",
        "items[0].department",
        "cameras[1].site",
        "rules[0].zone",
        "rules[1].metric",
    ]


def test_error_message_lists_every_problem() -> None:
    config = copy.deepcopy(BASE)
    config["sites"][0]["area_code"] = "990106"
    config["cameras"][0]["fps"] = "fast"
    with pytest.raises(ConfigError) as caught:
        parse_config(dump(config), source="hall.yaml")
    text = str(caught.value)
    assert text.startswith("hall.yaml: 2 problem(s)")
    assert "sites[0].area_code: province prefix 99" in text
    assert "cameras[0].fps: Input should be a valid number" in text


def test_load_config_reports_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.source == str(missing)
    assert caught.value.problems[0].message.startswith("cannot read file")


def test_load_config_reports_non_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("name: 政务服务大厅\n".encode("gbk"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].message.startswith("not UTF-8 text")


def test_load_config_hashes_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text(dump(BASE), encoding="utf-8")
    first = load_config(path).sha256
    path.write_text(dump(BASE) + "# a comment changes the version\n", encoding="utf-8")
    assert load_config(path).sha256 != first


# --- settings from the environment ---------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No OFFSITE_* variable from the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("OFFSITE_"):
            monkeypatch.delenv(name)
    yield monkeypatch


def test_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.env == "development"
    assert settings.database_url is None
    assert settings.data_dir == Path("var")


def test_settings_from_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OFFSITE_DATABASE_URL", "postgresql://offsite:Kq9-w2Lr@db:5432/offsite")
    clean_env.setenv("OFFSITE_MQTT_URL", "mqtts://broker.internal:8883")
    clean_env.setenv("OFFSITE_MQTT_USERNAME", "hub")
    clean_env.setenv("OFFSITE_DATA_DIR", "/srv/offsite")
    clean_env.setenv("OFFSITE_POOL_SIZE", "16")
    settings = Settings()
    assert settings.database_url == "postgresql://offsite:Kq9-w2Lr@db:5432/offsite"
    assert settings.mqtt_url == "mqtts://broker.internal:8883"
    assert settings.mqtt_username == "hub"
    assert settings.data_dir == Path("/srv/offsite")
    assert settings.pool_size == 16


def test_settings_reject_bad_values(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OFFSITE_POOL_SIZE", "0")
    with pytest.raises(ValidationError):
        Settings()


def test_development_allows_placeholders(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OFFSITE_DATABASE_URL", "postgresql://offsite:changethis@localhost/offsite")
    clean_env.setenv("OFFSITE_MQTT_PASSWORD", "secret")
    assert Settings().mqtt_password == "secret"


def test_production_accepts_real_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OFFSITE_ENV", "production")
    clean_env.setenv("OFFSITE_DATABASE_URL", "postgresql://offsite:Kq9-w2Lr@db:5432/offsite")
    clean_env.setenv("OFFSITE_MQTT_PASSWORD", "7vN!c2pQ")
    assert Settings().env == "production"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "OFFSITE_DATABASE_URL must be set in production", id="no-dsn"),
        pytest.param(
            {"OFFSITE_DATABASE_URL": "postgresql://offsite:changethis@db/offsite"},
            "OFFSITE_DATABASE_URL holds a placeholder secret",
            id="placeholder-dsn",
        ),
        pytest.param(
            {"OFFSITE_DATABASE_URL": "postgresql://offsite:PASSWORD@db/offsite"},
            "OFFSITE_DATABASE_URL holds a placeholder secret",
            id="placeholder-dsn-upper-case",
        ),
        pytest.param(
            {
                "OFFSITE_DATABASE_URL": "postgresql://offsite:Kq9-w2Lr@db/offsite",
                "OFFSITE_MQTT_PASSWORD": "change-me",
            },
            "OFFSITE_MQTT_PASSWORD holds a placeholder secret",
            id="placeholder-mqtt-password",
        ),
    ],
)
def test_production_refuses(clean_env: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    clean_env.setenv("OFFSITE_ENV", "production")
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert message in str(caught.value)


# --- schedules, windows, durations ---------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "moment", "inside"),
    [
        ("09:00-12:00", time(9, 0), True),
        ("09:00-12:00", time(11, 59, 59), True),
        ("09:00-12:00", time(12, 0), False),  # the end is excluded
        ("09:00-12:00", time(8, 59), False),
        ("22:00-06:00", time(22, 0), True),  # overnight
        ("22:00-06:00", time(23, 30), True),
        ("22:00-06:00", time(0, 0), True),
        ("22:00-06:00", time(5, 59), True),
        ("22:00-06:00", time(6, 0), False),
        ("22:00-06:00", time(12, 0), False),
        ("22:00-06:00", time(21, 59), False),
        ("18:00-24:00", time(23, 59, 59), True),
        ("18:00-24:00", time(0, 0), False),
        ("00:00-24:00", time(0, 0), True),
        ("00:00-24:00", time(23, 59), True),
    ],
)
def test_in_window(window: str, moment: time, inside: bool) -> None:
    assert in_window(window, moment) is inside


def test_window_bounds_reads_24_00_as_end_of_day() -> None:
    assert window_bounds("18:00-24:00") == (time(18, 0), time.max)


OPENING = Schedule(days=["mon", "tue", "wed", "thu", "fri"], hours=["09:00-12:00", "13:30-17:30"])


@pytest.mark.parametrize(
    ("schedule", "moment", "covered"),
    [
        (OPENING, datetime(2024, 3, 4, 9, 0), True),  # Monday morning
        (OPENING, datetime(2024, 3, 4, 12, 30), False),  # lunch break
        (OPENING, datetime(2024, 3, 4, 13, 30), True),
        (OPENING, datetime(2024, 3, 8, 17, 29), True),  # Friday
        (OPENING, datetime(2024, 3, 8, 17, 30), False),
        (OPENING, datetime(2024, 3, 9, 10, 0), False),  # Saturday
        (Schedule(), datetime(2024, 3, 10, 3, 0), True),  # default: always
        (Schedule(days=["sat", "sun"]), datetime(2024, 3, 10, 3, 0), True),
        (Schedule(days=["sat", "sun"]), datetime(2024, 3, 11, 3, 0), False),
        (Schedule(hours=["20:30-05:30"]), datetime(2024, 3, 4, 23, 0), True),
        (Schedule(hours=["20:30-05:30"]), datetime(2024, 3, 5, 4, 0), True),
        (Schedule(hours=["20:30-05:30"]), datetime(2024, 3, 5, 12, 0), False),
        # An overnight window belongs to the day it starts on (2024-03-08 is a Friday).
        (Schedule(days=["fri"], hours=["22:00-06:00"]), datetime(2024, 3, 9, 2, 0), True),
        (Schedule(days=["fri"], hours=["22:00-06:00"]), datetime(2024, 3, 8, 2, 0), False),
        (Schedule(days=["fri"], hours=["22:00-06:00"]), datetime(2024, 3, 8, 23, 0), True),
        (Schedule(days=["mon"], hours=["22:00-06:00"]), datetime(2024, 3, 4, 2, 0), False),
    ],
)
def test_schedule_covers(schedule: Schedule, moment: datetime, covered: bool) -> None:
    assert schedule.covers(moment) is covered


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90),
        (1.5, 1.5),
        ("90", 90.0),
        ("90s", 90.0),
        ("250ms", 0.25),
        ("1.5m", 90.0),
        ("10min", 600.0),
        (" 5 m ", 300.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["10 minutes", "-5s", "5y", "", "1h30m", "s", True])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(PydanticCustomError) as caught:
        parse_duration(value)
    assert f"{value!r} is not a duration" in str(caught.value)


# --- the CLI: offsite config check ---------------------------------------------------------


def check(*files: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offsite.cli", "config", "check", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def output_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return (result.stdout + result.stderr).splitlines()


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(dump(BASE), encoding="utf-8")
    return path


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    config = copy.deepcopy(BASE)
    config["objects"][0]["credit_code"] = OBJECT[:17] + "0"
    config["cameras"][0]["fps"] = "fast"
    path = tmp_path / "bad.yaml"
    path.write_text(dump(config), encoding="utf-8")
    return path


def test_cli_clean_file(good_file: Path) -> None:
    result = check(good_file)
    assert result.returncode == 0, result.stderr
    assert f"{good_file}: ok" in output_lines(result)


def test_cli_reports_each_problem_on_its_own_line(bad_file: Path) -> None:
    result = check(bad_file)
    assert result.returncode == 1
    expected = [f"{bad_file}: {p}" for p in problems_of(bad_file.read_text(encoding="utf-8"))]
    assert len(expected) == 2
    lines = output_lines(result)
    for line in expected:
        assert line in lines
    assert any(
        line.startswith(f"{bad_file}: line ") and ": objects[0].credit_code: check digit is G, not 0" in line
        for line in lines
    )
    assert f"{bad_file}: ok" not in lines


def test_cli_checks_every_file(good_file: Path, bad_file: Path) -> None:
    result = check(bad_file, good_file)
    assert result.returncode == 1
    lines = output_lines(result)
    assert f"{good_file}: ok" in lines
    assert any(line.startswith(f"{bad_file}: line ") for line in lines)


def test_cli_missing_file(tmp_path: Path, good_file: Path) -> None:
    missing = tmp_path / "absent.yaml"
    result = check(good_file, missing)
    assert result.returncode == 1
    lines = output_lines(result)
    assert f"{good_file}: ok" in lines
    assert any(line.startswith(f"{missing}: ") and "cannot read file" in line for line in lines)


def test_cli_example_configs() -> None:
    result = check(*EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = output_lines(result)
    for path in EXAMPLES:
        assert f"{path}: ok" in lines


@pytest.mark.parametrize(
    ("change", "path", "message", "line_text"),
    [
        pytest.param(
            set_(("mode",), "edge"), "mode", "read by nothing, so it changed nothing", "mode: edge", id="mode"
        ),
        pytest.param(
            set_(("objects", 0, "risk_grade"), "B"),
            "objects[0].risk_grade",
            "read by nothing: no routing or clue uses a credit-risk grade yet",
            "risk_grade: B",
            id="risk-grade",
        ),
    ],
)
def test_settings_nothing_reads_are_refused_by_name(
    change: Callable[[dict[str, Any]], None], path: str, message: str, line_text: str, tmp_path: Path
) -> None:
    """Accepted and ignored, they would promise what the hub does not do (an alert, an edge role)."""
    config = copy.deepcopy(BASE)
    change(config)
    text = dump(config)
    (problem,) = problems_of(text)
    assert (problem.path, problem.message[: len(message)]) == (path, message), problem
    assert problem.line is not None and line_text in text.splitlines()[problem.line - 1]
    file = tmp_path / "refused.yaml"
    file.write_text(text, encoding="utf-8")
    result = check(file)
    assert result.returncode == 1 and f"{file}: {problem}" in output_lines(result)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_a_deployment_reads_back_as_it_was_written(path: Path) -> None:
    """What `offsite config export` and the config API write (every field, defaults included)
    loads again into the same deployment: a default may not trip a check of its own."""
    deployment = load_config(path).deployment
    assert Deployment.model_validate(deployment.model_dump()) == deployment


def test_a_copy_of_a_deployment_looks_up_its_own_devices(demo_config: Deployment) -> None:
    """An edge box cuts the deployment to its site's cameras, a sensor ingest to some sites'
    sensors: the copy's lookups must answer from the copy, not from the original's cache."""
    assert demo_config.source_site and demo_config.sensor_by_id  # the original's lookups, cached
    assert len(demo_config.cameras) > 1 and demo_config.sensors  # so that something is cut away
    kept = demo_config.cameras[0]
    sensor = demo_config.sensors[0]
    renamed = sensor.model_copy(update={"name": sensor.name + " (copy)"})
    part = demo_config.model_copy(update={"cameras": [kept], "sensors": [renamed]})
    assert {k for k in part.source_site if k.startswith("camera:")} == {f"camera:{kept.id}"}
    assert part.sensor_by_id[sensor.id].name == renamed.name
    assert demo_config.sensor_by_id[sensor.id].name == sensor.name
