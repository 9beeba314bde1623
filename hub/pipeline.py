"""Event -> alert -> supervision-action record and risk clue, in one transaction per event."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg.types.json import Jsonb

from hub import audit, fusion, outbox
from hub.alerts import ACTIVE
from hub.config import Deployment
from hub.config.rules import Fusion, Rule
from hub.events import Event, EventRejected, ForeignEvent, Outcome
from hub.records import ACTION_INSERT
from hub.routing import destination
from hub.store.db import Connection
from hub.wording import title
from hub.workflow import ALERTS, CLUES

# The record's INSERT writes its outbox change too: one statement per inspection, not two.
ACTION_INSERT_QUEUED = outbox.folded(ACTION_INSERT, "record", "insert")
_RECORD_NAMESPACE = uuid.UUID("6f1c1d4e-8f0a-4d67-9a57-0ff5173e0001")
MAX_CLOCK_SKEW = timedelta(minutes=5)  # events stamped further ahead come from a wrong clock
DEVICE_KINDS = ("camera", "sensor", "gateway")  # sources that stand in one site of the deployment


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Taken:
    """What one event did, with the ids of the records it created or touched."""

    outcome: Outcome
    alert_id: int | None = None
    action_id: int | None = None
    clue_id: int | None = None


class Pipeline:
    """Turns events into records according to one loaded deployment."""

    def __init__(
        self,
        deployment: Deployment,
        config_sha256: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        exchange_source: str = "offsite",
    ) -> None:
        self.deployment = deployment
        self.config_sha256 = config_sha256
        self.clock = clock
        self.exchange_source = exchange_source
        self.fusions = fusion.FusionJudge(deployment)

    def check(self, event: Event, now: datetime) -> Rule:
        """The event's rule, or EventRejected when the event does not fit the deployment:
        ForeignEvent when it names a source, rule or object of another site than its own."""
        d = self.deployment
        if event.time > now + MAX_CLOCK_SKEW:
            raise EventRejected(
                "time",
                f"event {event.id}: time {event.time.isoformat()} is more than"
                f" {MAX_CLOCK_SKEW.total_seconds():.0f} s ahead of the hub's clock; check the sender's clock",
            )
        if event.site not in d.site_by_id:
            raise EventRejected("site", f"event {event.id}: unknown site {event.site!r}")
        rule = d.rule_by_id.get(event.rule)
        if rule is None:
            raise EventRejected("rule", f"event {event.id}: unknown rule {event.rule!r}")
        if isinstance(rule, Fusion):
            raise EventRejected(
                "rule", f"event {event.id}: rule {event.rule!r} is a fusion: the hub raises it from its parts"
            )
        self._bind(event)
        return rule

    def _bind(self, event: Event) -> None:
        """Refuse an event whose rule, source or object belongs to another site than its own."""
        d = self.deployment
        rule_site = d.rule_site.get(event.rule)
        if rule_site != event.site:
            raise ForeignEvent("rule", f"event {event.id}: rule {event.rule!r} belongs to site {rule_site}")
        watched = d.rule_source[event.rule]
        source_site = d.source_site.get(event.source)
        if watched is not None and event.source != watched:
            raise ForeignEvent("source", f"event {event.id}: rule {event.rule!r} watches {watched}")
        device = event.source.partition(":")[0] in DEVICE_KINDS
        if watched is None and device and source_site != event.site:
            where = f"stands in site {source_site}" if source_site else "is no device of the deployment"
            raise ForeignEvent("source", f"event {event.id}: {event.source} {where}")
        if event.object is not None and event.object not in d.site_objects[event.site]:
            raise ForeignEvent(
                "object", f"event {event.id}: object {event.object} is not supervised at site {event.site}"
            )

    def take(self, conn: Connection, event: Event) -> Taken:
        """Apply one event in the caller's transaction. The same id twice changes nothing."""
        now = self.clock()
        return self._apply(conn, event, self.check(event, now), now)

    def _apply(self, conn: Connection, event: Event, rule: Rule, now: datetime) -> Taken:
        inserted = conn.execute(
            "INSERT INTO events (id, source, site, rule, severity, time, cleared, problem, object_code,"
            " payload, evidence, received_at, outcome)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending')"
            " ON CONFLICT (id) DO NOTHING RETURNING id",
            (
                event.id, event.source, event.site, event.rule, event.severity or rule.severity,
                event.time, event.cleared, event.problem, event.object, Jsonb(event.payload),
                event.evidence, now,
            ),
        ).fetchone()  # fmt: skip
        if inserted is None:
            row = conn.execute("SELECT alert_id FROM events WHERE id = %s", (event.id,)).fetchone()
            return Taken(Outcome.DUPLICATE, alert_id=int(row[0]) if row and row[0] else None)
        # One writer at a time per (source, rule): the active-alert decision must not race.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"{event.source}|{event.rule}",),
        )
        taken = self._decide(conn, event, rule, now)
        conn.execute(
            "UPDATE events SET outcome = %s, alert_id = %s WHERE id = %s",
            (taken.outcome.value, taken.alert_id, event.id),
        )
        self._follow(conn, event, now)
        return taken

    def _follow(self, conn: Connection, event: Event, now: datetime) -> None:
        """Judge again, at the moments `event` may have changed them, the fusion rules its rule
        is a part of, and take what they raise (which may be part of other fusions in turn)."""
        if not event.problem:
            return
        for joined in self.fusions.lock(conn, event.rule):
            self._judge(conn, joined, self.fusions.moments(conn, joined, event.time), now)

    def _judge(self, conn: Connection, joined: Fusion, moments: list[datetime], now: datetime) -> list[Taken]:
        """Take the events the fusion raises at `moments`, in order."""
        done = []
        for at in moments:
            fused = self.fusions.judge(conn, joined, at)
            if fused is not None:
                done.append(self._apply(conn, fused.event, joined, now))
                fusion.cite(conn, fused)
        return done

    def _expire_fusions(self, conn: Connection, now: datetime) -> list[int]:
        """End the fusions whose parts fired too long ago or whose schedule closed (no event comes
        to say so)."""
        ended = []
        for joined in self.fusions.lock_all(conn):
            for taken in self._judge(conn, joined, self.fusions.expiries(conn, joined, now), now):
                if taken.outcome is Outcome.CLOSED and taken.alert_id is not None:
                    ended.append(taken.alert_id)
        return ended

    def _decide(self, conn: Connection, event: Event, rule: Rule, now: datetime) -> Taken:
        if not event.problem:
            return Taken(Outcome.INSPECTED, action_id=self._record_action(conn, event, rule, None, now))
        active = conn.execute(
            "SELECT id, status FROM alerts WHERE source = %s AND rule = %s AND status = ANY(%s) FOR UPDATE",
            (event.source, event.rule, list(ACTIVE)),
        ).fetchone()
        if event.cleared:
            if active is None:
                return Taken(Outcome.NO_ALERT)
            alert_id = int(active[0])
            self._end(conn, alert_id, str(active[1]), event.time, f"rule:{rule.id}", "cause ended")
            return Taken(Outcome.CLOSED, alert_id=alert_id)
        if active is not None:
            alert_id = int(active[0])
            conn.execute(
                "UPDATE alerts SET count = count + 1, last_seen = greatest(last_seen, %(t)s),"
                " last_event = %(e)s, updated_at = %(now)s,"
                " evidence = evidence || ARRAY(SELECT unnest(%(ev)s::text[]) EXCEPT SELECT unnest(evidence))"
                " WHERE id = %(id)s",
                {"t": event.time, "e": event.id, "now": now, "ev": event.evidence, "id": alert_id},
            )
            return Taken(Outcome.UPDATED, alert_id=alert_id)
        if self._cooling_down(conn, event, rule):
            return Taken(Outcome.SUPPRESSED)
        alert_id = self._open(conn, event, rule, now)
        action_id = self._record_action(conn, event, rule, alert_id, now)
        clue_id = self._issue_clue(conn, event, rule, alert_id, action_id, now)
        return Taken(Outcome.OPENED, alert_id, action_id, clue_id)

    def _cooling_down(self, conn: Connection, event: Event, rule: Rule) -> bool:
        row = conn.execute(
            "SELECT 1 FROM alerts WHERE source = %s AND rule = %s AND ended_at > %s LIMIT 1",
            (event.source, event.rule, event.time - timedelta(seconds=rule.cooldown)),
        ).fetchone()
        return row is not None

    def _end(self, conn: Connection, alert_id: int, status: str, at: datetime, actor: str, note: str) -> None:
        conn.execute(
            "UPDATE alerts SET status = 'closed', ended_at = %s, updated_at = %s WHERE id = %s",
            (at, self.clock(), alert_id),
        )
        ALERTS.record(conn, alert_id, "close", status, "closed", actor, at, note)

    def _open(self, conn: Connection, event: Event, rule: Rule, now: datetime) -> int:
        row = conn.execute(
            "INSERT INTO alerts (source, site, rule, title, severity, status, first_seen, last_seen,"
            " evidence, first_event, last_event, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, 'open', %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                event.source, event.site, rule.id, title(event, rule, self.deployment),
                event.severity or rule.severity,
                event.time, event.time, event.evidence, event.id, event.id, now,
            ),
        ).fetchone()  # fmt: skip
        assert row is not None
        alert_id = int(row[0])
        ALERTS.record(
            conn, alert_id, "open", None, "open", f"rule:{rule.id}", now, detail={"event": event.id}
        )
        return alert_id

    def _object_code(self, event: Event, rule: Rule) -> str | None:
        d = self.deployment
        return (
            event.object
            or rule.object
            or d.device_object.get(event.source)
            or d.site_by_id[event.site].object
        )

    def _record_action(
        self, conn: Connection, event: Event, rule: Rule, alert_id: int | None, now: datetime
    ) -> int | None:
        """A supervision-action record (监管行为) when the rule counts as an inspection."""
        if rule.item is None:
            return None
        d = self.deployment
        item = d.item_by_code[rule.item]
        department = d.department_by_id[item.department]
        code = self._object_code(event, rule)
        supervised = d.object_by_code.get(code) if code else None
        result = "problem_found" if event.problem else "no_problem"
        row = conn.execute(
            ACTION_INSERT_QUEUED,
            {
                "record_id": uuid.uuid5(_RECORD_NAMESPACE, event.id),
                "event_id": event.id,
                "alert_id": alert_id,
                "item_code": item.code,
                "item_name": item.name,
                "list_code": item.list_code,
                "department_code": department.code,
                "department_name": department.name,
                "object_name": supervised.name if supervised else None,
                "object_code": code,
                "area_code": d.site_by_id[event.site].area_code,
                "result": result,
                "inspected_at": event.time,
                "site": event.site,
                "rule": rule.id,
                "evidence": event.evidence,
                "config_sha256": self.config_sha256,
                "batch_id": f"{self.exchange_source}-{now:%Y%m%d}",
                "operation": "I",
                "exchange_source": self.exchange_source,
                "exchange_time": now,
                "outbox_at": now,
            },
        ).fetchone()
        assert row is not None
        action_id = int(row[0])
        detail = {"event": event.id, "item": item.code, "result": result}
        audit.append(conn, f"rule:{rule.id}", "action.insert", f"action:{action_id}", detail, now)
        return action_id

    def _issue_clue(
        self,
        conn: Connection,
        event: Event,
        rule: Rule,
        alert_id: int,
        action_id: int | None,
        now: datetime,
    ) -> int | None:
        """A risk clue for the routed department when the rule's findings need action."""
        d = self.deployment
        code = self._object_code(event, rule)
        supervised = d.object_by_code.get(code) if code else None
        target = destination(
            d,
            site=event.site,
            rule=rule,
            industry=supervised.industry if supervised else None,
            at=event.time,
        )
        if target is None:
            return None
        deadlines = d.clue_deadlines[target.risk_class]  # type: ignore[index]
        department = d.department_by_id[target.department]
        row = conn.execute(
            "INSERT INTO risk_clues (event_id, alert_id, action_id, route_id, department, department_code,"
            " site, rule, item_code, object_code, title, risk_class, status, issued_at, claim_deadline,"
            " feedback_deadline, evidence, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'issued', %s, %s, %s, %s, %s)"
            " RETURNING id",
            (
                event.id, alert_id, action_id, target.route_id, department.id, department.code, event.site,
                rule.id, rule.item, code, title(event, rule, self.deployment), target.risk_class, now,
                now + timedelta(seconds=deadlines.claim), now + timedelta(seconds=deadlines.feedback),
                event.evidence, now,
            ),
        ).fetchone()  # fmt: skip
        assert row is not None
        clue_id = int(row[0])
        CLUES.record(
            conn, clue_id, "issue", None, "issued", f"rule:{rule.id}", now,
            detail={"department": department.id, "route": target.route_id, "risk_class": target.risk_class},
        )  # fmt: skip
        return clue_id

    def attach(self, conn: Connection, event_id: str, evidence: list[str], actor: str) -> bool:
        """Add evidence that came after its event (a clip, cut once its last seconds were filmed)
        to the event and to the alert, record and clue it made. False for an unknown event."""
        add = "evidence = evidence || ARRAY(SELECT unnest(%(ev)s::text[]) EXCEPT SELECT unnest(evidence))"
        now = self.clock()
        args: dict[str, object] = {"ev": evidence, "e": event_id, "now": now}
        row = conn.execute(f"UPDATE events SET {add} WHERE id = %(e)s RETURNING alert_id", args).fetchone()
        if row is None:
            return False
        conn.execute(f"UPDATE alerts SET {add}, updated_at = %(now)s WHERE id = %(a)s", {**args, "a": row[0]})
        # The exchange sees a changed record as an update.
        changed = conn.execute(
            f"UPDATE supervision_actions SET {add}, operation = 'U', exchange_time = %(now)s"
            " WHERE event_id = %(e)s RETURNING id",
            args,
        ).fetchall()
        for (action_id,) in changed:
            outbox.enqueue(conn, "record", int(action_id), "update", now)
        conn.execute(f"UPDATE risk_clues SET {add} WHERE event_id = %(e)s", args)
        audit.append(conn, actor, "evidence.attach", f"event:{event_id}", {"evidence": evidence}, now)
        for fused in fusion.citing(conn, event_id):  # a fusion resting on this event shows it too
            self.attach(conn, fused, evidence, actor)
        return True

    def close_stale(self, conn: Connection) -> list[int]:
        """Close active alerts of rules with `auto_close` that saw no repeat for that long, and
        of fusions whose parts' firings have passed out of the window or whose schedule closed."""
        now = self.clock()
        closed = self._expire_fusions(conn, now)
        for rule in self.deployment.rules:
            if rule.auto_close is None:
                continue
            rows = conn.execute(
                "SELECT id, status FROM alerts"
                " WHERE rule = %s AND status = ANY(%s) AND last_seen < %s FOR UPDATE",
                (rule.id, list(ACTIVE), now - timedelta(seconds=rule.auto_close)),
            ).fetchall()
            for alert_id, status in rows:
                self._end(conn, int(alert_id), str(status), now, "system", "no repeat within auto_close")
                closed.append(int(alert_id))
        return closed
