"""Routing: which department a finding goes to, as a risk clue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.config import Deployment
from hub.config.domain import Route
from hub.config.rules import Rule


@dataclass(frozen=True)
class Destination:
    route_id: str
    department: str
    risk_class: int


def matches(route: Route, *, site: str, rule: Rule, industry: str | None, local: datetime) -> bool:
    """Whether a finding meets every condition of the route (an empty condition matches)."""
    m = route.match
    return (
        (not m.sites or site in m.sites)
        and (not m.rules or rule.id in m.rules)
        and (not m.items or rule.item in m.items)
        and (not m.industries or industry in m.industries)
        and (m.schedule is None or m.schedule.covers(local))
    )


def destination(
    deployment: Deployment, *, site: str, rule: Rule, industry: str | None, at: datetime
) -> Destination | None:
    """The first matching route; without one, the department implementing the rule's item.

    None when the rule raises no clues (no risk class).
    """
    if rule.risk_class is None or rule.item is None:
        return None
    local = at.astimezone(deployment.tz)
    for route in deployment.routing:
        if matches(route, site=site, rule=rule, industry=industry, local=local):
            return Destination(route.id, route.department, route.risk_class or rule.risk_class)
    item = deployment.item_by_code[rule.item]
    return Destination("item-department", item.department, rule.risk_class)
