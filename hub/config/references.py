"""Checks across sections: unique ids and references that point at something that exists."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from hub.config.rules import CameraRule, External, Fusion, LineCrossing, Offline, SensorRule, ZoneRule

if TYPE_CHECKING:
    from hub.config.deployment import Deployment

Problem = tuple[tuple[str | int, ...], str]


def _known(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed[:12]) + (" ..." if len(listed) > 12 else "") if listed else "none defined"


def _unique(section: str, keys: Sequence[str], field: str) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key in seen:
            yield (
                (section, index, field),
                f"duplicate {field} {key!r} (also {section}[{seen[key]}])",
            )
        seen.setdefault(key, index)


def _ref(loc: tuple[str | int, ...], value: str | None, known: set[str], what: str) -> Iterator[Problem]:
    if value is not None and value not in known:
        yield loc, f"unknown {what} {value!r}; known: {_known(known)}"


def reference_problems(d: Deployment) -> list[Problem]:
    """Every broken cross-reference in a deployment that passed field validation."""
    sites = {s.id for s in d.sites}
    departments = {x.id for x in d.departments}
    objects = {o.credit_code for o in d.objects}
    items = {i.code for i in d.items}
    cameras = {c.id for c in d.cameras}
    sensors = {s.id: s for s in d.sensors}
    zones = {z.id: z for z in d.zones}
    lines = {x.id: x for x in d.lines}
    rules = {r.id for r in d.rules}
    out: list[Problem] = []
    for section, keys, field in (
        ("sites", [s.id for s in d.sites], "id"),
        ("departments", [x.id for x in d.departments], "id"),
        ("departments", [x.code for x in d.departments], "code"),
        ("objects", [o.credit_code for o in d.objects], "credit_code"),
        ("items", [i.code for i in d.items], "code"),
        ("routing", [r.id for r in d.routing], "id"),
        ("cameras", [c.id for c in d.cameras], "id"),
        ("zones", [z.id for z in d.zones], "id"),
        ("lines", [x.id for x in d.lines], "id"),
        ("sensors", [s.id for s in d.sensors], "id"),
        ("gateways", [g.id for g in d.gateways], "id"),
        ("rules", [r.id for r in d.rules], "id"),
        ("vision.models", [m.id for m in d.vision.models], "id"),
        ("outputs", [o.id for o in d.outputs], "id"),
    ):
        out += _unique(section, keys, field)
    for i, site in enumerate(d.sites):
        out += _ref(("sites", i, "object"), site.object, objects, "object")
    for i, item in enumerate(d.items):
        out += _ref(("items", i, "department"), item.department, departments, "department")
    for i, output in enumerate(d.outputs):
        for j, site_id in enumerate(output.sites):
            out += _ref(("outputs", i, "sites", j), site_id, sites, "site")
        for j, department in enumerate(output.departments):
            out += _ref(("outputs", i, "departments", j), department, departments, "department")
    for i, route in enumerate(d.routing):
        out += _ref(("routing", i, "department"), route.department, departments, "department")
        out += _ref(("routing", i, "escalate_to"), route.escalate_to, departments, "department")
        for j, site_id in enumerate(route.match.sites):
            out += _ref(("routing", i, "match", "sites", j), site_id, sites, "site")
        for j, code in enumerate(route.match.items):
            out += _ref(("routing", i, "match", "items", j), code, items, "supervision item")
        for j, rule_id in enumerate(route.match.rules):
            out += _ref(("routing", i, "match", "rules", j), rule_id, rules, "rule")
    placed = [("cameras", i, c.site, c.object) for i, c in enumerate(d.cameras)]
    placed += [("sensors", i, x.site, x.object) for i, x in enumerate(d.sensors)]
    models = {m.id for m in d.vision.models}
    undetected = {c.id for c in d.cameras if c.detect is None}
    for i, camera in enumerate(d.cameras):
        if camera.detect is not None:
            out += _ref(("cameras", i, "detect", "model"), camera.detect.model, models, "model")
    for section, i, site_id, object_code in placed:
        out += _ref((section, i, "site"), site_id, sites, "site")
        out += _ref((section, i, "object"), object_code, objects, "object")
    for i, gateway in enumerate(d.gateways):
        out += _ref(("gateways", i, "site"), gateway.site, sites, "site")
        for j, sensor_id in enumerate(gateway.sensors):
            out += _ref(("gateways", i, "sensors", j), sensor_id, set(sensors), "sensor")
    drawn = [("zones", i, z.camera) for i, z in enumerate(d.zones)]
    drawn += [("lines", i, x.camera) for i, x in enumerate(d.lines)]
    for section, i, camera_id in drawn:
        out += _ref((section, i, "camera"), camera_id, cameras, "camera")
    for i, rule in enumerate(d.rules):
        at = ("rules", i)
        out += _ref((*at, "item"), rule.item, items, "supervision item")
        out += _ref((*at, "object"), rule.object, objects, "object")
        if isinstance(rule, CameraRule | Offline):
            out += _ref((*at, "camera"), rule.camera, cameras, "camera")
        if isinstance(rule, CameraRule) and rule.camera in undetected:
            out.append(((*at, "camera"), f"camera {rule.camera!r} has no detect section to feed this rule"))
        if isinstance(rule, ZoneRule):
            zone = zones.get(rule.zone)
            if zone is None:
                out += _ref((*at, "zone"), rule.zone, set(zones), "zone")
            elif zone.camera != rule.camera:
                out.append(
                    (
                        (*at, "zone"),
                        f"zone {rule.zone!r} belongs to camera {zone.camera!r}, not {rule.camera!r}",
                    )
                )
        if isinstance(rule, LineCrossing):
            line = lines.get(rule.line)
            if line is None:
                out += _ref((*at, "line"), rule.line, set(lines), "line")
            elif line.camera != rule.camera:
                out.append(
                    (
                        (*at, "line"),
                        f"line {rule.line!r} belongs to camera {line.camera!r}, not {rule.camera!r}",
                    )
                )
        if isinstance(rule, SensorRule | Offline):
            out += _ref((*at, "sensor"), rule.sensor, set(sensors), "sensor")
        if isinstance(rule, External):
            out += _ref((*at, "site"), rule.site, sites, "site")
        if isinstance(rule, SensorRule) and rule.sensor in sensors:
            out += _ref(
                (*at, "metric"),
                rule.metric,
                set(sensors[rule.sensor].metrics),
                "metric",
            )
        if isinstance(rule, Fusion):
            out += _ref((*at, "site"), rule.site, sites, "site")
            out += _fusion_parts(at, rule, d)
        if rule.risk_class is not None and rule.item is None:
            out.append(
                (
                    (*at, "risk_class"),
                    "a rule that raises clues needs a supervision item (set item)",
                )
            )
    return out + _fusion_cycles(d)


def _fusion_parts(at: tuple[str | int, ...], rule: Fusion, d: Deployment) -> Iterator[Problem]:
    """A fusion joins known rules of its own site, never itself."""
    rules = set(d.rule_by_id)
    for field in ("all_of", "none_of"):
        for j, other in enumerate(getattr(rule, field)):
            where = (*at, field, j)
            if other == rule.id:
                yield where, f"fusion {rule.id!r} names itself: its parts must be other rules"
                continue
            yield from _ref(where, other, rules - {rule.id}, "rule")
            site = d.rule_site.get(other)
            if site is not None and site != rule.site and rule.site in d.site_by_id:
                why = "a fusion joins rules of its own site"
                yield where, f"rule {other!r} belongs to site {site!r}, not {rule.site!r}: {why}"


def _fusion_cycles(d: Deployment) -> list[Problem]:
    """Fusions that are, through other fusions, parts of themselves: they could never be judged."""
    index = {rule.id: i for i, rule in enumerate(d.rules)}
    fusions = {rule.id: rule for rule in d.rules if isinstance(rule, Fusion)}
    out: list[Problem] = []
    done: set[str] = set()

    def visit(rule_id: str, path: list[str]) -> None:
        fusion = fusions[rule_id]
        for field in ("all_of", "none_of"):
            for j, part in enumerate(getattr(fusion, field)):
                if part == rule_id or part not in fusions:
                    continue  # itself: reported above; an ordinary rule ends the path
                if part in path:
                    cycle = " -> ".join([*path[path.index(part) :], rule_id, part])
                    out.append((("rules", index[rule_id], field, j), f"fusion rules form a cycle: {cycle}"))
                elif part not in done:
                    visit(part, [*path, rule_id])
        done.add(rule_id)

    for rule_id in fusions:
        if rule_id not in done:
            visit(rule_id, [])
    return out
