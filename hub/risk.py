"""Supervised objects graded by risk (风险分级) from their findings, for double-random inspections.

A finding is a supervision-action record that found a problem with an object. It adds the weight
of its risk class (the clue's, or the rule's where no clue was issued), halved every half-life of
its age; before the department's verdict it adds `unconfirmed` of that. A false alarm (an alert
the duty platform dismissed, or a clue fed back as one) and a record withdrawn (operation D) add
nothing. The score falls into the deployment's grades (`risk:`), each with a sampling weight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from hub.config import Deployment
from hub.store.db import Connection

_FALSE = "coalesce(bool_or(c.verdict = 'false_alarm') OR bool_or(a.status = 'dismissed'), false)"
# A finding judged false says no_problem on its record (hub/verdicts.py), so it is found by its verdict.
_FINDINGS = f"""
    SELECT r.object_code, r.rule, r.inspected_at, min(c.risk_class), {_FALSE},
           coalesce(bool_or(c.verdict = 'confirmed'), false)
    FROM supervision_actions r
    LEFT JOIN alerts a ON a.id = r.alert_id
    LEFT JOIN risk_clues c ON c.alert_id = r.alert_id
    WHERE r.operation <> 'D' AND r.object_code IS NOT NULL AND r.inspected_at <= %(now)s
      AND (%(department)s::text IS NULL OR r.object_code IN (
           SELECT object_code FROM risk_clues WHERE department = %(department)s AND object_code IS NOT NULL))
    GROUP BY r.id
    HAVING bool_or(r.result = 'problem_found') OR {_FALSE}
"""


@dataclass
class RuleShare:
    """What one rule's findings add to an object's score: the reason a person reads."""

    rule: str
    name: str
    confirmed: int = 0
    unconfirmed: int = 0
    score: float = 0.0


@dataclass
class ObjectRisk:
    credit_code: str
    name: str
    industry: str
    score: float = 0.0
    grade: str = ""
    label: str = ""
    weight: float = 0.0
    confirmed: int = 0
    unconfirmed: int = 0
    false_alarms: int = 0
    last_finding: datetime | None = None
    reasons: list[RuleShare] = field(default_factory=list)


def object_risks(
    conn: Connection, deployment: Deployment, now: datetime, department: str | None = None
) -> list[ObjectRisk]:
    """Every object the caller may see, riskiest first: the deployment's objects (for a department,
    those its clues name) and any other object a finding names."""
    scoring = deployment.risk
    rows = conn.execute(_FINDINGS, {"now": now, "department": department}).fetchall()
    objects: dict[str, ObjectRisk] = {}
    if department is None:
        for o in deployment.objects:
            objects[o.credit_code] = ObjectRisk(o.credit_code, o.name, o.industry)
    shares: dict[tuple[str, str], RuleShare] = {}
    for code, rule_id, at, clue_class, false_alarm, confirmed in rows:
        risk = objects.get(code)
        if risk is None:  # a department's object, or one a finding names that the deployment lacks
            known = deployment.object_by_code.get(code)
            risk = objects[code] = ObjectRisk(
                code, known.name if known else code, known.industry if known else ""
            )
        if false_alarm:
            risk.false_alarms += 1
            continue
        rule = deployment.rule_by_id.get(rule_id)
        risk_class = clue_class or (rule.risk_class if rule and rule.risk_class else 3)
        age = max((now - at).total_seconds(), 0.0)
        added = scoring.class_weights[risk_class] * 0.5 ** (age / scoring.half_life)
        share = shares.get((code, rule_id))
        if share is None:
            share = shares[code, rule_id] = RuleShare(rule_id, rule.name if rule else rule_id)
            risk.reasons.append(share)
        if confirmed:
            risk.confirmed += 1
            share.confirmed += 1
        else:
            added *= scoring.unconfirmed
            risk.unconfirmed += 1
            share.unconfirmed += 1
        share.score += added
        risk.score += added
        risk.last_finding = at if risk.last_finding is None else max(risk.last_finding, at)
    for risk in objects.values():
        risk.score = round(risk.score, 3)
        grade = scoring.grade_of(risk.score)
        risk.grade, risk.label, risk.weight = grade.grade, grade.label, grade.weight
        for share in risk.reasons:
            share.score = round(share.score, 3)
        risk.reasons.sort(key=lambda s: (-s.score, s.rule))
    return sorted(objects.values(), key=lambda r: (-r.score, r.credit_code))
