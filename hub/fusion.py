"""Fusion rules: one finding from several rules of a site, judged by the times of their events.

A fusion's state at a moment t follows from its parts' events as stored, so it survives a restart
and does not depend on the order the events arrive in (an edge box may send late):

- a rule of `all_of` holds at t when it is active (its latest event at or before t fired), or when
  it fired within `window` before t;
- a rule of `none_of` holds at t when it is not active;
- the fusion is wanted at t when every part holds and its schedule covers t.

Its own events (source ``rule:ID``) record where its state changed. When a part's event comes in,
the fusion is judged again at that event's time and at the times of its parts' later events within
the window (what a late part changes), and a fire or a clear is raised wherever the wanted state
differs from the recorded one. The pipeline takes those like any event: one alert while the fusion
lasts, its record and its clue. A fire names the part events it rests on (`fusion_parts`), so that
evidence made after a part, such as a clip, reaches the fusion's records too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import args_row
from pydantic import JsonValue

from hub.config import Deployment
from hub.config.rules import Fusion, SensorRule
from hub.events import Event, transition_id
from hub.store.db import Connection, columns_of

MAX_EVIDENCE = 32  # an event cites at most this many files (`Event.evidence`)


@dataclass(frozen=True)
class PartEvent:
    """The event a part of a fusion is judged by at a moment."""

    id: str
    time: datetime
    cleared: bool
    alert_id: int | None
    evidence: list[str]


_COLUMNS = columns_of(PartEvent)


@dataclass(frozen=True)
class Fused:
    """A fusion event to take, and the part events it rests on."""

    event: Event
    parts: list[str]


def _part_event(conn: Connection, where: str, params: tuple[object, ...]) -> PartEvent | None:
    with conn.cursor(row_factory=args_row(PartEvent)) as cur:
        return cur.execute(f"SELECT {_COLUMNS} FROM events WHERE {where} LIMIT 1", params).fetchone()


def latest(conn: Connection, rule: str, at: datetime) -> PartEvent | None:
    """The rule's last finding or end of one at or before `at`; at the same moment an end counts last."""
    where = "rule = %s AND problem AND time <= %s ORDER BY time DESC, cleared DESC"
    return _part_event(conn, where, (rule, at))


def last_fired(conn: Connection, rule: str, start: datetime, at: datetime) -> PartEvent | None:
    """The rule's last firing after `start`, up to `at`."""
    where = "rule = %s AND problem AND NOT cleared AND time > %s AND time <= %s ORDER BY time DESC"
    return _part_event(conn, where, (rule, start, at))


def citing(conn: Connection, part_event: str) -> list[str]:
    """The fusion events that rest on `part_event`."""
    rows = conn.execute("SELECT fusion_event FROM fusion_parts WHERE part_event = %s", (part_event,))
    return [str(row[0]) for row in rows.fetchall()]


class FusionJudge:
    """The fusion rules of one deployment, judged from the events in the store."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.fusions = {rule.id: rule for rule in deployment.rules if isinstance(rule, Fusion)}
        self._containing: dict[str, list[Fusion]] = {}
        for fusion in self.fusions.values():
            for part in dict.fromkeys(fusion.parts):
                self._containing.setdefault(part, []).append(fusion)
        self._affected = {rule: self._closure(rule) for rule in self._containing}

    def _closure(self, rule: str) -> list[str]:
        """The fusions an event of `rule` may change, directly or through other fusions, sorted."""
        found: set[str] = set()
        todo = [rule]
        while todo:
            for fusion in self._containing.get(todo.pop(), []):
                if fusion.id not in found:
                    found.add(fusion.id)
                    todo.append(fusion.id)
        return sorted(found)

    def lock(self, conn: Connection, rule: str) -> list[Fusion]:
        """Lock every fusion an event of `rule` may change, and return those `rule` is a part of."""
        _lock(conn, self._affected.get(rule, []))
        return self._containing.get(rule, [])

    def lock_all(self, conn: Connection) -> list[Fusion]:
        """Lock every fusion, and return them."""
        _lock(conn, sorted(self.fusions))
        return list(self.fusions.values())

    def moments(self, conn: Connection, fusion: Fusion, since: datetime) -> list[datetime]:
        """When a part's event at `since` may have changed the fusion: then, and at its own and its
        parts' later events within the window (the part came late, after events it goes with)."""
        rows = conn.execute(
            "SELECT DISTINCT time FROM events WHERE rule = ANY(%s) AND problem AND time > %s AND time <= %s"
            " ORDER BY time",
            ([*fusion.parts, fusion.id], since, since + timedelta(seconds=fusion.window)),
        ).fetchall()
        return [since, *(row[0] for row in rows)]

    def expiries(self, conn: Connection, fusion: Fusion, now: datetime) -> list[datetime]:
        """When, up to `now`, the active fusion may end without any event: a firing of its `all_of`
        parts stops counting (the door shut long ago, the store still warming), or its schedule
        closes."""
        state = latest(conn, fusion.id, now)
        if state is None or state.cleared:
            return []
        window = timedelta(seconds=fusion.window)
        rows = conn.execute(
            "SELECT DISTINCT time FROM events WHERE rule = ANY(%s) AND problem AND NOT cleared"
            " AND time > %s AND time <= %s ORDER BY time",
            (fusion.all_of, state.time - window, now - window),
        ).fetchall()
        moments = [row[0] + window for row in rows]
        if fusion.schedule is not None:  # it fired inside its schedule: the first flip closes it
            flips = fusion.schedule.flips(self.deployment.tz, state.time, now, True)
            moments += [at for at, _ in itertools.islice(flips, 1)]
        return sorted(moments)

    def judge(self, conn: Connection, fusion: Fusion, at: datetime) -> Fused | None:
        """The fusion's event at `at` when what its parts say there differs from its own record."""
        start = at - timedelta(seconds=fusion.window)
        held: list[tuple[str, PartEvent]] = []
        missing: list[str] = []
        for rule in fusion.all_of:
            now = latest(conn, rule, at)
            found = now if now is not None and not now.cleared else last_fired(conn, rule, start, at)
            if found is None:
                missing.append(rule)
            else:
                held.append((rule, found))
        present = [rule for rule in fusion.none_of if _active(latest(conn, rule, at))]
        schedule = fusion.schedule
        open_ = schedule is None or schedule.covers(at.astimezone(self.deployment.tz))
        wanted = not missing and not present and open_
        if wanted == _active(latest(conn, fusion.id, at)):
            return None
        if wanted:
            payload: dict[str, JsonValue] = {
                "type": fusion.type,
                "window": fusion.window,
                "parts": [self._describe(rule, part, start, at) for rule, part in held],
                "absent": list(fusion.none_of),
            }
            evidence = list(dict.fromkeys(sha for _, part in held for sha in part.evidence))
        else:
            why = "missing" if missing else "present" if present else "schedule_ended"
            payload = {"type": fusion.type, "reason": why, "missing": list(missing), "present": list(present)}
            evidence = []
        event = Event(
            id=transition_id(fusion.id, at, wanted),
            source=f"rule:{fusion.id}",
            site=fusion.site,
            rule=fusion.id,
            time=at,
            cleared=not wanted,
            payload=payload,
            evidence=evidence[:MAX_EVIDENCE],
        )
        return Fused(event, [part.id for _, part in held] if wanted else [])

    def _describe(self, rule: str, part: PartEvent, start: datetime, at: datetime) -> dict[str, JsonValue]:
        """A part as the fusion's event names it; a sensor rule with where its curve is read."""
        described: dict[str, JsonValue] = {
            "rule": rule,
            "event": part.id,
            "time": part.time.isoformat(),
            "alert": part.alert_id,
            "active": not part.cleared,
            "evidence": list(part.evidence),
        }
        watched = self.deployment.rule_by_id.get(rule)
        if isinstance(watched, SensorRule):
            described["curve"] = {
                "sensor": watched.sensor,
                "metric": watched.metric,
                "start": start.isoformat(),
                "end": at.isoformat(),
            }
        return described


def _lock(conn: Connection, fusions: list[str]) -> None:
    """Fusion locks are taken in sorted order by every writer, so two never wait on each other;
    under them, two parts taken at once cannot each miss the other."""
    for fusion in fusions:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"fusion|{fusion}",))


def _active(event: PartEvent | None) -> bool:
    return event is not None and not event.cleared


def cite(conn: Connection, fused: Fused) -> None:
    """Record the part events a fusion event rests on (after the event itself is stored)."""
    for part in fused.parts:
        conn.execute(
            "INSERT INTO fusion_parts (fusion_event, part_event) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (fused.event.id, part),
        )
