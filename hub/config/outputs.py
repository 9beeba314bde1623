"""Where the hub pushes its changes (alerts, risk clues, supervision-action records): `outputs:`.

Secrets never stand in the file: a destination names the environment variable that holds its.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from hub.config.types import Id, Model, Seconds, Severity

ChangeKind = Literal["alert", "clue", "record"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("alert", "clue", "record")


class Destination(Model):
    """What every destination has: a name, filters, and how hard it is tried."""

    id: Id = Field(description="Name of the destination, in the outbox, the API and the metrics")
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", description="Where the changes are POSTed")
    sites: list[Id] = Field(default_factory=list, description="Only changes of these sites (empty: all)")
    departments: list[Id] = Field(
        default_factory=list,
        description="Only clues and records of these departments (empty: all); alerts have none",
    )
    timeout: Seconds = Field(default=10.0, description="Longest wait for the receiver's answer")
    max_attempts: int = Field(
        default=10, ge=1, le=100, description="Attempts before a change becomes a dead letter"
    )
    backoff: Seconds = Field(default=5.0, description="Wait after the first failure; doubles each time")
    backoff_max: Seconds = Field(default=3600.0, description="Longest wait between two attempts")


class Webhook(Destination):
    """JSON per change, POSTed and signed as Standard Webhooks does (webhook-id, webhook-timestamp,
    webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">)."""

    kind: Literal["webhook"] = Field(description="webhook: one signed JSON POST per change")
    secret_env: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]{2,127}$",
        description="Environment variable holding the signing secret (at least 16 characters)",
    )
    kinds: list[ChangeKind] = Field(
        default_factory=lambda: list(CHANGE_KINDS),
        min_length=1,
        description="Which records' changes go out: alert, clue, record",
    )
    severities: list[Severity] = Field(
        default_factory=list,
        description="Only changes resting on an alert of these severities (empty: all, without alert too)",
    )


class Exchange(Destination):
    """The provincial exchange (省级"互联网+监管"数据交换): supervision-action records in its layout,
    several per POST, each with `cd_operation` I, U or D, `cd_source`, `cd_time` and the POST's
    `cd_batch`; authenticated with a bearer token from the environment."""

    kind: Literal["exchange"] = Field(description="exchange: records in batches, in the exchange layout")
    token_env: str = Field(
        pattern=r"^[A-Z][A-Z0-9_]{2,127}$",
        description="Environment variable holding the exchange's access token (sent as a bearer token)",
    )
    batch: int = Field(default=100, ge=1, le=1000, description="Most records in one POST")


Output = Annotated[Webhook | Exchange, Field(discriminator="kind")]
