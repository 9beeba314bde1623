"""Request and response bodies, in families: what callers send (Create/Update) and see (Public)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any, Literal, get_type_hints

from fastapi import HTTPException, Path, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from api.auth import Role
from hub.config.loader import format_loc
from hub.events import Event, Outcome, Sha256
from hub.records import AlertStatus, ClueStatus, SupervisionAction, Verdict
from hub.storable import unstorable
from hub.store.device_health import HealthChange


class Body(BaseModel):
    """Base of every request body: unknown fields are refused, and so is any value no column can
    store (NUL, lone surrogates, NaN)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = next(unstorable(data), None)
        if found is not None:
            where, why = format_loc(found[0]) or "body", found[1]
            raise PydanticCustomError("unstorable", "{where} {why}", {"where": where, "why": why})
        return data


class Public(BaseModel):
    """Base of every response body, read from the hub's records."""

    model_config = ConfigDict(from_attributes=True)


class Problem(BaseModel):
    """An error the caller can act on."""

    detail: str = Field(description="What was wrong and what is expected")


class Conflict(Problem):
    """An action the record's state does not allow."""

    status: str = Field(description="The record's current state")
    allowed: list[str] = Field(description="Actions allowed in that state")


class Note(Body):
    """An optional remark kept in the record's trail."""

    note: str = Field(default="", max_length=2000)


class ReopenNote(Body):
    """Why the feedback is not accepted."""

    note: str = Field(min_length=1, max_length=2000, description="What the department must do again")


class AlertPublic(Public):
    """An alert as operators see it."""

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
    evidence: list[str] = Field(description="SHA-256 of each evidence file")
    updated_at: datetime


class TransitionPublic(Public):
    """One step of a record's trail."""

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str
    note: str


class AlertDetail(AlertPublic):
    first_event: str
    last_event: str
    evidence_links: list[str] = Field(description="Where to download each evidence file")
    trail: list[TransitionPublic]
    records: list[RecordPublic] = Field(
        description="Supervision-action records of its findings, oldest first; empty for a department"
        " (records are the duty platform's)"
    )
    clues: list[CluePublic] = Field(description="Risk clues it produced (a department: only its own)")


class AlertCounts(BaseModel):
    """Alerts per state."""

    open: int
    acknowledged: int
    closed: int
    dismissed: int


class AlertPage(BaseModel):
    items: list[AlertPublic]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class CluePublic(Public):
    """A risk clue (风险线索) with its deadlines; `overdue` names the deadline passed, if any."""

    id: int
    alert_id: int | None
    department: str
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
    overdue: Literal["claim", "feedback"] | None


class ClueDetail(CluePublic):
    evidence: list[str]
    feedback_evidence: list[str]
    evidence_links: list[str]
    allowed: list[str] = Field(description="Actions the clue's state allows now")
    trail: list[TransitionPublic]


class CluePage(BaseModel):
    items: list[CluePublic]
    next_cursor: str | None


class RecordPublic(Public):
    """A supervision-action record (监管行为) with its exchange fields."""

    # Every column of `hub.records.SupervisionAction`, the record's one declaration.
    __annotations__ = get_type_hints(SupervisionAction)


class RecordPage(BaseModel):
    items: list[RecordPublic]
    next_cursor: str | None


class EventBatch(Body):
    """Events from an edge box; each id is taken once, so a batch may be sent again safely."""

    events: list[Event] = Field(min_length=1, description="At most OFFSITE_API_MAX_EVENTS events")


class EventTaken(BaseModel):
    id: str
    outcome: Outcome
    alert_id: int | None


class IntakeResult(BaseModel):
    taken: list[EventTaken]


class EvidencePublic(BaseModel):
    sha256: Sha256
    size: int
    media_type: str
    link: str


class Login(Body):
    username: str = Field(min_length=1, max_length=63)
    password: str = Field(min_length=1, max_length=1024)


class Session(BaseModel):
    token: str
    expires_at: datetime


class CurvePoint(Public):
    """One bucket of a sensor curve."""

    time: datetime = Field(description="Start of the bucket")
    mean: float
    min: float
    max: float


class LatestReading(Public):
    """The newest reading of one metric."""

    time: datetime
    value: float


class SensorMetric(BaseModel):
    """One metric a sensor reports, with its unit and newest reading."""

    name: str
    unit: str
    min: float = Field(description="Least possible value (readings below are refused)")
    max: float = Field(description="Greatest possible value")
    latest: LatestReading | None = Field(description="Null before the first reading")


class DeviceStatus(Public):
    """A device's last status change (online, offline...)."""

    status: str
    since: datetime
    detail: str

    @classmethod
    def of(cls, change: HealthChange) -> DeviceStatus:
        return cls(status=change.status, since=change.time, detail=change.detail)


class SensorView(BaseModel):
    """A sensor of the deployment as the caller may see it: metrics, newest values, health."""

    id: str
    name: str
    site: str
    kind: str
    interval: float = Field(description="Seconds expected between readings")
    metrics: list[SensorMetric]
    health: DeviceStatus | None = Field(description="Null before the first status change")


class SensorCurve(BaseModel):
    """A metric of a sensor over a range: raw readings (mean = min = max) or buckets."""

    sensor: str
    sensor_name: str
    metric: str
    unit: str
    start: datetime
    end: datetime
    resolution: Literal["raw", "1m", "1h"]
    points: list[CurvePoint]


class AlertCurve(BaseModel):
    """A sensor metric around an alert, with the limits of the rule that raised it."""

    alert_id: int
    sensor: str
    sensor_name: str
    metric: str
    unit: str | None
    above: float | None = Field(description="The rule's upper limit, if it has one")
    below: float | None = Field(description="The rule's lower limit, if it has one")
    start: datetime
    end: datetime
    resolution: Literal["1m", "1h"] = Field(description="Bucket length")
    points: list[CurvePoint]


class Named(BaseModel):
    """An id of the deployment with its display name (and its site, for a camera or sensor)."""

    id: str
    name: str
    site: str | None = None


class Catalogue(BaseModel):
    sites: list[Named]
    sources: list[Named] = Field(
        description="Cameras and sensors, as alerts name them (camera:ID, sensor:ID)"
    )
    rules: list[Named]
    departments: list[Named] = Field(description="Departments, as clues and records name them")


class Me(BaseModel):
    """The caller behind a token, for an interface to show only what the role may do."""

    name: str = Field(description="The login's user name, or the token's name")
    role: Role
    department: str | None = Field(description="Set for a department: the only one it sees")
    site: str | None = Field(description="Set for an edge box: the site it speaks for")
    session: bool = Field(description="A dashboard login's session (revoked by /auth/logout)")
    expires_at: datetime | None
    timezone: str = Field(description="The deployment's IANA time zone, for showing times")
    language: Literal["zh", "en"] = Field(
        description="The deployment's language: an interface's default until the user picks another"
    )


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    database: Literal["ok", "unreachable"]
    broker: Literal["ok", "unreachable", "not_configured"]
    stream: Literal["ok", "reconnecting"]


Since = Annotated[AwareDatetime | None, Field(description="From this moment, inclusive, with timezone")]
Until = Annotated[AwareDatetime | None, Field(description="Before this moment, with timezone")]
Limit = Annotated[int, Field(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Field(max_length=200, description="`next_cursor` of the previous page")]


def encode_cursor(at: datetime, record_id: int) -> str:
    """An opaque cursor after the row (at, id)."""
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{record_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """The (at, id) a cursor stands for; 422 naming the query parameter when it is not one of ours."""
    if cursor is None:
        return None
    try:
        at, record_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        parsed = datetime.fromisoformat(at), int(record_id)
        if parsed[0].tzinfo is None:
            raise ValueError("naive")
        return parsed
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["query", "cursor"], "msg": "not a cursor from a previous page", "type": "cursor"}],
        ) from None


def next_cursor(rows: list[Any], limit: int, time_field: str) -> str | None:
    """The cursor after the last row, when the page is full."""
    if len(rows) < limit:
        return None
    last = rows[-1]
    return encode_cursor(getattr(last, time_field), last.id)


RecordId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The record's id")]
