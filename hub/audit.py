"""The audit trail: append-only, each entry chained to the previous one by SHA-256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from hub.store.db import Connection

GENESIS = "0" * 64
_LOCK_KEY = 0x0FF5_A0D1  # serialises appends so the chain has one order


def entry_hash(
    seq: int, at: datetime, actor: str, action: str, subject: str, detail: Any, prev_hash: str
) -> str:
    """SHA-256 of an entry's canonical JSON form."""
    body = json.dumps(
        {
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "subject": subject,
            "detail": detail,
            "prev": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(
    conn: Connection, actor: str, action: str, subject: str, detail: dict[str, Any], at: datetime
) -> str:
    """Append an entry in the caller's transaction; returns its hash."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
    last = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = str(last[0]) if last else GENESIS
    seq_row = conn.execute("SELECT nextval(pg_get_serial_sequence('audit_log', 'seq'))").fetchone()
    assert seq_row is not None
    seq = int(seq_row[0])
    # Round-trip the detail through JSON so the hash covers exactly what jsonb gives back.
    detail = json.loads(json.dumps(detail, default=str))
    digest = entry_hash(seq, at, actor, action, subject, detail, prev)
    conn.execute(
        "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (seq, at, actor, action, subject, Jsonb(detail), prev, digest),
    )
    conn.execute(
        "INSERT INTO audit_head (seq, hash) VALUES (%s, %s)"
        " ON CONFLICT (one) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
        (seq, digest),
    )
    return digest


@dataclass(frozen=True)
class AuditReport:
    """Result of checking the chain: `broken_at` is the first bad entry, None when intact."""

    entries: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(conn: Connection) -> AuditReport:
    """Walk the whole chain and name the first entry that was altered, removed or reordered."""
    prev = GENESIS
    count = 0
    last_seq = 0
    with conn.cursor(name="audit_verify") as cur:
        cur.itersize = 5000
        cur.execute(
            "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq"
        )
        for seq, at, actor, action, subject, detail, prev_hash, stored in cur:
            count += 1
            if prev_hash != prev:
                return AuditReport(
                    count,
                    seq,
                    f"entry {seq} does not follow the one before it (an entry was removed or edited)",
                )
            if entry_hash(seq, at, actor, action, subject, detail, prev_hash) != stored:
                return AuditReport(
                    count, seq, f"entry {seq} was altered: its content does not match its hash"
                )
            prev = stored
            last_seq = seq
    # The chain alone cannot show that its last entries were cut off; the head kept apart can.
    head = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    if head is not None and int(head[0]) != last_seq:
        return AuditReport(count, int(head[0]), f"entry {head[0]}, the latest written, is missing")
    if head is not None and head[1] != prev:
        return AuditReport(count, last_seq, f"entry {last_seq} was rewritten after it was recorded")
    return AuditReport(count)
