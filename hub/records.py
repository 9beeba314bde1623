"""The records the hub keeps, as read back from the store.

`SupervisionAction` is the one declaration of a supervision-action record's columns: the pipeline's
INSERT (`ACTION_INSERT`), the API's `RecordPublic` and the export derive from it; the migration
stays SQL, and a test holds the two together.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal
from uuid import UUID

AlertStatus = Literal["open", "acknowledged", "closed", "dismissed"]
ClueStatus = Literal["issued", "claimed", "handled", "fed_back", "closed"]
Verdict = Literal["confirmed", "false_alarm"]


@dataclass(frozen=True)
class Alert:
    """What operators see: one per (source, rule) while its cause lasts."""

    id: int
    source: str
    site: str
    rule: str
    title: str
    severity: str
    status: AlertStatus
    first_seen: datetime
    last_seen: datetime
    ended_at: datetime | None
    count: int
    evidence: list[str]
    first_event: str
    last_event: str
    updated_at: datetime


@dataclass(frozen=True)
class SupervisionAction:
    """A non-site inspection record (监管行为) in the provincial exchange layout."""

    id: int
    record_id: UUID
    event_id: str
    alert_id: int | None
    item_code: str
    item_name: str
    list_code: str
    department_code: str
    department_name: str
    object_name: str | None
    object_code: str | None
    area_code: str
    method: str
    result: Literal["problem_found", "no_problem"]
    inspected_at: datetime
    site: str
    rule: str
    evidence: list[str]
    config_sha256: str
    batch_id: str
    operation: Literal["I", "U", "D"]
    exchange_source: str
    exchange_time: datetime


# What the store fills in itself: the id, and the method every record of this hub has (non_site).
_STORE_FILLED = ("id", "method")
ACTION_COLUMNS = tuple(f.name for f in fields(SupervisionAction) if f.name not in _STORE_FILLED)
ACTION_INSERT = (
    f"INSERT INTO supervision_actions ({', '.join(ACTION_COLUMNS)})"
    f" VALUES ({', '.join(f'%({c})s' for c in ACTION_COLUMNS)}) RETURNING id"
)


@dataclass(frozen=True)
class RiskClue:
    """A finding a department must claim, handle and give feedback on (风险线索)."""

    id: int
    event_id: str
    alert_id: int | None
    action_id: int | None
    route_id: str
    department: str
    department_code: str
    site: str
    rule: str
    item_code: str
    object_code: str | None
    title: str
    risk_class: int
    status: ClueStatus
    issued_at: datetime
    claim_deadline: datetime
    feedback_deadline: datetime
    claimed_at: datetime | None
    fed_back_at: datetime | None
    closed_at: datetime | None
    verdict: Verdict | None
    feedback: str | None
    evidence: list[str]  # what the finding rests on
    feedback_evidence: list[str]  # what the department sent back
    updated_at: datetime

    def overdue(self, now: datetime) -> Literal["claim", "feedback"] | None:
        """Which deadline has passed without the step it asks for, if any."""
        if self.status == "issued" and now > self.claim_deadline:
            return "claim"
        if self.status in ("issued", "claimed", "handled") and now > self.feedback_deadline:
            return "feedback"
        return None


@dataclass(frozen=True)
class Transition:
    """One step in a record's trail: who moved it from which state to which, and when."""

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str
