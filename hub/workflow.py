"""State machines of alerts and risk clues: which action moves which state where, and the trail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from hub import audit, outbox
from hub.config.outputs import ChangeKind
from hub.records import Transition
from hub.store.db import Connection


class IllegalTransition(Exception):
    """An action the record's current state does not allow; says which ones it does."""

    def __init__(self, kind: str, record_id: int, status: str, action: str, allowed: list[str]) -> None:
        self.kind, self.record_id, self.status, self.action, self.allowed = (
            kind,
            record_id,
            status,
            action,
            allowed,
        )
        now = ", ".join(allowed) if allowed else "nothing (final state)"
        super().__init__(f"cannot {action} {kind} {record_id}: it is {status}; allowed now: {now}")


class RecordNotFound(LookupError):
    """No record with that id (or none the caller may see)."""


@dataclass(frozen=True)
class Workflow:
    """Actions as (states they apply to, state they lead to), and where the trail is kept."""

    kind: ChangeKind
    table: str
    trail: str
    key: str
    steps: dict[str, tuple[frozenset[str], str]]

    def allowed(self, status: str) -> list[str]:
        return [action for action, (sources, _) in self.steps.items() if status in sources]

    def target(self, record_id: int, status: str, action: str) -> str:
        """The state `action` leads to from `status`, or IllegalTransition."""
        step = self.steps.get(action)
        if step is None or status not in step[0]:
            raise IllegalTransition(self.kind, record_id, status, action, self.allowed(status))
        return step[1]

    def lock(self, conn: Connection, record_id: int) -> str:
        """Lock the record for this transaction and return its status."""
        row = conn.execute(
            sql.SQL("SELECT status FROM {} WHERE id = %s FOR UPDATE").format(sql.Identifier(self.table)),
            (record_id,),
        ).fetchone()
        if row is None:
            raise RecordNotFound(f"no {self.kind} {record_id}")
        return str(row[0])

    def record(
        self,
        conn: Connection,
        record_id: int,
        action: str,
        from_status: str | None,
        to_status: str,
        actor: str,
        at: datetime,
        note: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Keep the step in the record's trail, in the audit log and in the outbox."""
        conn.execute(
            sql.SQL(
                "INSERT INTO {} ({}, at, actor, action, from_status, to_status, note)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            ).format(sql.Identifier(self.trail), sql.Identifier(self.key)),
            (record_id, at, actor, action, from_status, to_status, note),
        )
        audit.append(
            conn,
            actor,
            f"{self.kind}.{action}",
            f"{self.kind}:{record_id}",
            {"from": from_status, "to": to_status, "note": note, **(detail or {})},
            at,
        )
        outbox.enqueue(conn, self.kind, record_id, action, at)

    def history(self, conn: Connection, record_id: int) -> list[Transition]:
        """The record's trail, oldest first."""
        with conn.cursor(row_factory=class_row(Transition)) as cur:
            cur.execute(
                sql.SQL(
                    "SELECT at, actor, action, from_status, to_status, note FROM {} WHERE {} = %s ORDER BY id"
                ).format(sql.Identifier(self.trail), sql.Identifier(self.key)),
                (record_id,),
            )
            return cur.fetchall()


def _steps(**steps: tuple[tuple[str, ...], str]) -> dict[str, tuple[frozenset[str], str]]:
    return {action: (frozenset(sources), target) for action, (sources, target) in steps.items()}


ALERTS = Workflow(
    kind="alert",
    table="alerts",
    trail="alert_transitions",
    key="alert_id",
    steps=_steps(
        acknowledge=(("open",), "acknowledged"),
        close=(("open", "acknowledged"), "closed"),
        dismiss=(("open", "acknowledged"), "dismissed"),
    ),
)

CLUES = Workflow(
    kind="clue",
    table="risk_clues",
    trail="clue_transitions",
    key="clue_id",
    steps=_steps(
        claim=(("issued",), "claimed"),
        handle=(("claimed",), "handled"),
        feed_back=(("handled",), "fed_back"),
        close=(("fed_back",), "closed"),
        reopen=(("fed_back",), "claimed"),
    ),
)
