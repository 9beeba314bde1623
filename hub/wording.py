"""What people read: the titles of alerts and risk clues, durations and moments.

One template per rule type and language, filled from the rule's config and the facts its event
carries (``payload``: ``absent_for``, ``duration``, ``value``...). Chinese by default, English
when the deployment says ``language: en``. Durations are written as people write them
("离岗 4 秒", "4 分 10 秒", "10 分钟"), numbers without spurious decimals, and moments in the
deployment's zone with its offset.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from hub.config.rules import Fusion

if TYPE_CHECKING:
    from hub.config import Deployment
    from hub.config.rules import Rule
    from hub.events import Event

Language = Literal["zh", "en"]

# {camera}, {sensor}: display names; {zone}, {line}: ids; {labels}: the rule's labels, translated.
TITLES: dict[Language, dict[str, str]] = {
    "zh": {
        "presence": "{camera} {zone} 区域有{labels}，已 {duration}",
        "absence": "{camera} 离岗 {absent_for}",
        "stationary": "{camera} {zone} 区域{labels}静止 {duration}",
        "count": "{camera} {zone} 区域 {count} 个{labels}，持续 {duration}",
        "line_crossing": "{camera} {labels}逆向越过 {line}",
        "co_occurrence": "{camera} {zone} 区域{labels}{companions}，已 {duration}",
        "fall": "{camera} 有人倒地，已 {duration}",
        "threshold": "{sensor} {value}，{beyond} {limit} 持续 {duration}",
        "rate_of_change": "{sensor} 每分钟变化 {rate}，超过 {limit}",
        "flatline": "{sensor} 读数 {window} 无变化",
        "offline": "{device} {status}",
        "fusion": "{name}：{parts}{absent}",
    },
    "en": {
        "presence": "{labels} in zone {zone} of {camera} for {duration}",
        "absence": "{camera}: post {zone} empty for {absent_for}",
        "stationary": "{labels} still in zone {zone} of {camera} for {duration}",
        "count": "{count} {labels} in zone {zone} of {camera} for {duration}",
        "line_crossing": "{labels} crossed line {line} of {camera} the forbidden way",
        "co_occurrence": "{labels} {companions} in zone {zone} of {camera} for {duration}",
        "fall": "{camera}: a person down for {duration}",
        "threshold": "{sensor} {value}, {beyond} {limit} for {duration}",
        "rate_of_change": "{sensor} changing {rate} a minute, more than {limit}",
        "flatline": "{sensor} flat for {window}",
        "offline": "{device} {status}",
        "fusion": "{name}: {parts}{absent}",
    },
}

_WORDS: dict[Language, dict[str, str]] = {
    "zh": {
        "person": "人员", "person_fallen": "倒地人员", "car": "车辆", "vehicle": "车辆", "truck": "货车",
        "bus": "客车", "bicycle": "自行车", "motorcycle": "摩托车", "cell phone": "手机", "phone": "手机",
        "above": "高于", "below": "低于", "with": "携带", "without": "未佩戴", "and": "、",
        "offline": "离线", "frozen": "画面冻结", "silent": "离线超过",
        "none": "，且无",
    },
    "en": {
        "above": "above", "below": "below", "with": "with", "without": "without", "and": " and ",
        "offline": "offline", "frozen": "frozen", "silent": "silent for more than",
        "none": ", and no ",
    },
}  # fmt: skip
_UNITS = {"degC": "℃", "degF": "℉"}
# What a sensor is (`Sensor.kind`), named before it where its kind is news: a device gone silent.
_KINDS: dict[Language, dict[str, str]] = {
    "zh": {
        "temperature": "温度传感器", "humidity": "湿度传感器", "gas": "可燃气体探测器", "smoke": "烟感探测器",
        "water": "水浸传感器", "noise": "噪声监测仪", "emission": "排放监测仪", "door": "门磁",
        "power": "电力监测仪", "other": "传感器",
    },
    "en": {kind: f"{kind} sensor" for kind in ("temperature", "humidity", "gas", "smoke", "water", "noise",
                                               "emission", "door", "power")} | {"other": "sensor"},
}  # fmt: skip


def label(name: str, language: Language = "zh") -> str:
    """A detection label (person, car, cell phone) as a person reads it in `language`."""
    words, spoken = _WORDS[language], name.replace("_", " ")  # models name cell_phone or cell phone
    return words.get(name) or words.get(spoken, spoken)


def duration(seconds: float, language: Language = "zh") -> str:
    """A span as people write it: whole seconds, then minutes, hours and days ("4 分 10 秒")."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    names = ("天", "小时", "分", "秒") if language == "zh" else ("d", "h", "min", "s")
    parts = [f"{n} {name}" for n, name in zip((days, hours, minutes, secs), names, strict=True) if n]
    if language == "zh" and parts == [f"{minutes} 分"]:
        return f"{minutes} 分钟"  # minutes alone read "10 分钟"; "4 分 10 秒" with seconds
    return " ".join(parts) or f"0 {names[-1]}"


def number(value: float) -> str:
    """A reading for people: one decimal at most, none when it is whole."""
    return f"{round(value, 1):g}"


def offset(at: datetime, tz: ZoneInfo) -> str:
    """The zone's offset from UTC at `at`: ``+08:00``."""
    text = at.astimezone(tz).strftime("%z")
    return f"{text[:3]}:{text[3:]}"


def moment(at: datetime, tz: ZoneInfo, spec: str = "%Y-%m-%d %H:%M:%S") -> str:
    """`at` in the deployment's zone with its offset: ``2026-12-02 09:14:03 +08:00``."""
    return f"{at.astimezone(tz).strftime(spec)} {offset(at, tz)}"


def zone_note(tz: ZoneInfo, at: datetime) -> str:
    """The line under a table of moments that says which zone they are in."""
    return f"times in {tz.key} (UTC{offset(at, tz)})"


def title(event: Event, rule: Rule, deployment: Deployment) -> str:
    """The title of the alert and clue an event opens: the event's own title if it brings one,
    else the template of the rule's type filled from its facts, else the rule's name."""
    if event.title:
        return event.title
    template = TITLES[deployment.language].get(rule.type)
    if template is None:
        return rule.name
    facts = _facts(event.payload, rule, deployment)
    needed = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not needed <= facts.keys():
        return rule.name  # an event without the facts (an edge box of another make)
    return template.format_map(facts)


def _facts(payload: Mapping[str, object], rule: Rule, deployment: Deployment) -> dict[str, str]:
    """What the templates may name, as text in the deployment's language."""
    language = deployment.language
    words = _WORDS[language]
    cameras = {c.id: c.name for c in deployment.cameras}
    sensors = {s.id: s for s in deployment.sensors}
    facts: dict[str, str] = {}
    for key in ("zone", "line"):
        if isinstance(place := payload.get(key, getattr(rule, key, None)), str):
            facts[key] = place
    if isinstance(camera := getattr(rule, "camera", None), str):
        facts["camera"] = facts["device"] = cameras.get(camera, camera)
    labels = getattr(rule, "labels", None)
    if isinstance(labels, list):
        facts["labels"] = words["and"].join(label(str(name), language) for name in labels)
    for key in ("absent_for", "duration", "window"):
        if isinstance(span := payload.get(key), int | float):
            facts[key] = duration(span, language)
    if isinstance(count := payload.get("count"), int):
        facts["count"] = str(count)
    if isinstance(status := payload.get("status"), str) and status in words:
        facts["status"] = words[status]
    facts.update(_companions(payload, words))
    if isinstance(rule, Fusion):
        facts.update(_fusion(rule, deployment, words))
    sensor = sensors.get(getattr(rule, "sensor", None) or "")
    if sensor is not None:
        facts["sensor"] = sensor.name
        facts["device"] = f"{_KINDS[language][sensor.kind]} {sensor.name}"
        facts.update(_reading(payload, rule, sensor.metrics, words, language))
    return facts


def _companions(payload: Mapping[str, object], words: Mapping[str, str]) -> dict[str, str]:
    """``{companions}`` of a co-occurrence: what was found with the subject, or was missing."""
    for key, word in (("missing", words["without"]), ("with", words["with"])):
        found = payload.get(key)
        if isinstance(found, list) and found:
            return {"companions": f"{word} " + words["and"].join(words.get(str(x), str(x)) for x in found)}
    return {}


def _fusion(rule: Fusion, deployment: Deployment, words: Mapping[str, str]) -> dict[str, str]:
    """A fusion's name and its parts by their names: what was seen together, and what was not."""
    names = {r.id: r.name for r in deployment.rules}
    absent = words["and"].join(names.get(part, part) for part in rule.none_of)
    return {
        "name": rule.name,
        "parts": words["and"].join(names.get(part, part) for part in rule.all_of),
        "absent": f"{words['none']}{absent}" if absent else "",
    }


def _reading(
    payload: Mapping[str, object], rule: Rule, metrics: Mapping[str, object], words: Mapping[str, str],
    language: Language,
) -> dict[str, str]:  # fmt: skip
    """A sensor rule's value, limit and rate with the metric's unit."""
    metric = metrics.get(str(payload.get("metric", getattr(rule, "metric", ""))))
    raw_unit = str(getattr(metric, "unit", ""))
    unit = _UNITS.get(raw_unit, f" {raw_unit}" if raw_unit else "")
    out: dict[str, str] = {}
    for key in ("value", "limit", "rate"):
        if isinstance(figure := payload.get(key), int | float):
            out[key] = f"{number(figure)}{unit}"
    if isinstance(limit := payload.get("limit"), int | float):
        out["beyond"] = words["above"] if limit == payload.get("above") else words["below"]
    if rule.type == "offline" and isinstance(after := payload.get("after"), int | float):
        out["status"] = f"{words['silent']} {duration(after, language)}"
    return out


# The note of a reminder (催办) in a clue's trail, at a missed deadline; {due}: that deadline.
REMINDER_NOTES: dict[Language, dict[str, str]] = {
    "zh": {"claim": "超过认领时限（{due}）未认领，催办", "feedback": "超过反馈时限（{due}）未反馈，催办"},
    "en": {
        "claim": "not claimed by its claim deadline ({due}): reminded",
        "feedback": "no feedback by its feedback deadline ({due}): reminded",
    },
}

# The note of an escalation (督办) to the supervising department; {supervisor}: its name.
ESCALATION_NOTES: dict[Language, dict[str, str]] = {
    "zh": {
        "claim": "超过认领时限（{due}）仍未认领，提请{supervisor}督办",
        "feedback": "超过反馈时限（{due}）仍未反馈，提请{supervisor}督办",
    },
    "en": {
        "claim": "still not claimed after its claim deadline ({due}): escalated to {supervisor}",
        "feedback": "still no feedback after its feedback deadline ({due}): escalated to {supervisor}",
    },
}

# The headings of `offsite stats` (hub/statistics.py's figures).
STATISTICS_LABELS: dict[Language, dict[str, str]] = {
    "zh": {
        "clues": "风险线索处置情况", "alerts": "告警（按场所、规则）",
        "records": "监管行为记录（按监管事项）",
        "department": "部门", "bucket": "时段", "total": "合计", "received": "收到线索",
        "claimed_in_time": "按时认领", "answered_in_time": "按时反馈", "overdue": "逾期", "escalated": "督办",
        "open": "未反馈", "claim_p50": "认领用时中位数", "claim_p90": "认领用时P90",
        "answer_p50": "反馈用时中位数", "answer_p90": "反馈用时P90", "site": "场所", "rule": "规则",
        "alerts_count": "告警数", "dismissed": "误报撤销", "item_code": "事项编码", "item_name": "监管事项",
        "records_count": "记录数", "problem_found": "发现问题", "period": "统计期间",
        "sources": "告警（按摄像头、传感器）", "models": "误报（按规则、模型版本）", "source": "设备",
        "model": "模型版本", "false_alarms": "误报", "false_share": "误报率",
    },
    "en": {
        "clues": "Risk clues answered", "alerts": "Alerts by site and rule",
        "records": "Supervision-action records by item", "department": "department", "bucket": "from",
        "total": "total", "received": "received", "claimed_in_time": "claimed in time",
        "answered_in_time": "answered in time", "overdue": "overdue", "escalated": "escalated",
        "open": "open",
        "claim_p50": "claim p50", "claim_p90": "claim p90", "answer_p50": "answer p50",
        "answer_p90": "answer p90", "site": "site", "rule": "rule", "alerts_count": "alerts",
        "dismissed": "dismissed", "item_code": "item code", "item_name": "item", "records_count": "records",
        "problem_found": "problem found", "period": "period",
        "sources": "Alerts by camera and sensor", "models": "False alarms by rule and model version",
        "source": "source", "model": "model version", "false_alarms": "false alarms",
        "false_share": "false share",
    },
}  # fmt: skip
