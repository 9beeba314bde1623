"""The disk bound of a `hub.spool.DurableSink` (`limit_bytes`): what is evicted, in which order,
and how the spooled entries citing an evicted file are mended.

Past the bound, batches of tracked detections go first (statistics), then evidence, clips
(``video/*``) before snapshots, oldest first; never an event, which stays while the disk holds
one more. An evicted file's hash leaves the spooled events and attachments that cite it (the hub
would refuse a citation of a file it never got) and is named in the event's payload under
``evicted_evidence``, so the loss shows at the hub. The hash is remembered a while (`evicted`
table), so that an attachment spooled later, naming a clip evicted as it was kept, drops it too.
Every function here runs inside the spool's appending transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pydantic import JsonValue

from hub.events import Event

EVICTED_KEPT = 86400.0  # seconds an evicted hash is remembered: longer than a clip takes to cut


@dataclass
class Eviction:
    """What one eviction removed."""

    clips: int = 0
    snapshots: int = 0
    files: int = 0  # distinct evidence files no longer held (a file spooled twice counts once)
    detections: int = 0  # tracked detections, rows
    detection_batches: int = 0
    bytes: int = 0


def held(db: sqlite3.Connection) -> int:
    """Bytes the spool holds: the bodies of its entries and of its tracked detections."""
    return int(
        db.execute(
            "SELECT (SELECT coalesce(sum(length(body)), 0) FROM spool)"
            " + (SELECT coalesce(sum(length(body)), 0) FROM detections)"
        ).fetchone()[0]
    )


def evict(db: sqlite3.Connection, limit: int, now: float) -> tuple[int, Eviction]:
    """Evict tracked detections, then evidence, clips first, oldest first, until the spool holds at
    most `limit` bytes; events stay whatever they weigh. The bytes held afterwards, and what went."""
    done = Eviction()
    size = held(db)
    for seq, count, length in db.execute(
        "SELECT seq, rows, length(body) FROM detections ORDER BY seq"
    ).fetchall():
        if size <= limit:
            return size, done
        db.execute("DELETE FROM detections WHERE seq = ?", (seq,))
        size -= int(length)
        done.bytes += int(length)
        done.detections += int(count)
        done.detection_batches += 1
    candidates = db.execute(
        "SELECT seq, key, length(body), media_type LIKE 'video/%' FROM spool WHERE kind = 'evidence'"
        " ORDER BY media_type LIKE 'video/%' DESC, seq"
    ).fetchall()
    evicted: set[str] = set()
    for seq, key, length, is_clip in candidates:
        if size <= limit:
            break
        db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
        size -= int(length)
        evicted.add(str(key))
        done.bytes += int(length)
        if is_clip:
            done.clips += 1
        else:
            done.snapshots += 1
    gone = {
        sha
        for sha in evicted
        if db.execute("SELECT 1 FROM spool WHERE kind = 'evidence' AND key = ?", (sha,)).fetchone() is None
    }
    if gone:
        db.executemany("INSERT OR REPLACE INTO evicted VALUES (?, ?)", [(sha, now) for sha in gone])
        db.execute("DELETE FROM evicted WHERE evicted_at < ?", (now - EVICTED_KEPT,))
        _uncite(db, gone)
        done.files = len(gone)
    return size, done


def uncite_evicted(db: sqlite3.Connection, rows: list[tuple[str, str, bytes, str, float]]) -> None:
    """Drop from events and attachments just spooled the evidence evicted before they came (a clip
    evicted as it was kept, before the attachment naming it)."""
    if db.execute("SELECT 1 FROM evicted LIMIT 1").fetchone() is None:
        return
    cited: set[str] = set()
    for kind, _, body, _, _ in rows:
        if kind == "attach":
            cited.update(s for s in body.decode().split(",") if s)
        elif kind == "event":
            cited.update(Event.model_validate_json(body).evidence)
    gone = {
        sha
        for sha in cited
        if db.execute("SELECT 1 FROM evicted WHERE key = ?", (sha,)).fetchone() is not None
        and db.execute("SELECT 1 FROM spool WHERE kind = 'evidence' AND key = ?", (sha,)).fetchone() is None
    }
    if gone:
        _uncite(db, gone)


def _uncite(db: sqlite3.Connection, gone: set[str]) -> None:
    """Remove evicted hashes from the spooled events and attachments citing them; an event names
    them in its payload's ``evicted_evidence``, an attachment left with nothing is dropped."""
    citing = {
        (int(seq), str(kind), bytes(body))
        for sha in gone
        for seq, kind, body in db.execute(
            "SELECT seq, kind, body FROM spool WHERE kind IN ('event', 'attach')"
            " AND instr(CAST(body AS TEXT), ?) > 0",
            (sha,),
        )
    }
    for seq, kind, body in sorted(citing):
        if kind == "attach":
            kept = [s for s in body.decode().split(",") if s and s not in gone]
            if kept:
                db.execute("UPDATE spool SET body = ? WHERE seq = ?", (",".join(kept).encode(), seq))
            else:
                db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            continue
        event = Event.model_validate_json(body)
        if not gone.intersection(event.evidence):
            continue
        before = event.payload.get("evicted_evidence")
        lost: list[JsonValue] = [*(before if isinstance(before, list) else [])]
        lost += [s for s in event.evidence if s in gone]
        event = event.model_copy(
            update={
                "evidence": [s for s in event.evidence if s not in gone],
                "payload": {**event.payload, "evicted_evidence": lost},
            }
        )
        db.execute("UPDATE spool SET body = ? WHERE seq = ?", (event.model_dump_json().encode(), seq))
