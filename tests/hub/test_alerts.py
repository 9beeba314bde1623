"""Alert lifecycle: every (state, action) pair, the trail and the audit log, on both servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from hub import alerts
from hub.events import Outcome
from hub.pipeline import Pipeline
from hub.records import Alert, AlertStatus
from hub.store.db import Database
from hub.workflow import ALERTS, IllegalTransition, RecordNotFound
from tests.conftest import Clock
from tests.hub.feed import HALL, QUEUE, count, event, take

OPERATOR = "operator:duty-1"
# The actions that bring a freshly opened alert into each state.
PATH_TO = {"open": [], "acknowledged": ["acknowledge"], "closed": ["close"], "dismissed": ["dismiss"]}
ALLOWED = {
    "open": ["acknowledge", "close", "dismiss"],
    "acknowledged": ["close", "dismiss"],
    "closed": [],
    "dismissed": [],
}


def open_alert(db: Database, pipeline: Pipeline, clock: Clock, state: str = "open") -> int:
    """An alert from a HALL event, moved into `state` one minute later."""
    taken = take(db, pipeline, event("h1", clock.now, HALL))
    assert taken.outcome is Outcome.OPENED and taken.alert_id is not None
    with db.transaction() as conn:
        for action in PATH_TO[state]:
            alerts.transition_alert(conn, taken.alert_id, action, OPERATOR, clock.advance(minutes=1))
    return taken.alert_id


def alert_and_trail(db: Database, alert_id: int) -> tuple[Alert, int, int]:
    """The alert row, the length of its trail and the size of the audit log."""
    with db.transaction() as conn:
        row = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        assert row is not None
        return alerts.get_alert(conn, alert_id), len(ALERTS.history(conn, alert_id)), int(row[0])


def audit_entries(db: Database, alert_id: int) -> list[tuple[Any, ...]]:
    with db.transaction() as conn:
        return conn.execute(
            "SELECT actor, action, at, detail FROM audit_log WHERE subject = %s ORDER BY seq",
            (f"alert:{alert_id}",),
        ).fetchall()


@pytest.mark.parametrize(
    ("state", "action", "target"),
    [
        ("open", "acknowledge", "acknowledged"),
        ("open", "close", "closed"),
        ("open", "dismiss", "dismissed"),
        ("acknowledged", "acknowledge", None),
        ("acknowledged", "close", "closed"),
        ("acknowledged", "dismiss", "dismissed"),
        ("closed", "acknowledge", None),
        ("closed", "close", None),
        ("closed", "dismiss", None),
        ("dismissed", "acknowledge", None),
        ("dismissed", "close", None),
        ("dismissed", "dismiss", None),
        ("open", "reopen", None),  # not an alert action at all
    ],
)
def test_every_state_and_action(
    db: Database, pipeline: Pipeline, clock: Clock, state: str, action: str, target: AlertStatus | None
) -> None:
    alert_id = open_alert(db, pipeline, clock, state)
    before, trail_before, audit_before = alert_and_trail(db, alert_id)
    assert before.status == state
    at = clock.advance(minutes=5)
    with db.transaction() as conn:
        if target is None:
            with pytest.raises(IllegalTransition) as caught:
                alerts.transition_alert(conn, alert_id, action, OPERATOR, at, "try")
        else:
            moved = alerts.transition_alert(conn, alert_id, action, OPERATOR, at, "done")
    after, trail_after, audit_after = alert_and_trail(db, alert_id)

    if target is None:
        allowed = ALLOWED[state]
        assert (caught.value.status, caught.value.action, caught.value.allowed) == (state, action, allowed)
        message = str(caught.value)
        assert f"cannot {action} alert {alert_id}: it is {state}" in message
        assert message.endswith(", ".join(allowed) if allowed else "nothing (final state)")
        assert (after, trail_after, audit_after) == (before, trail_before, audit_before)
        return
    ended = at if target in ("closed", "dismissed") else None
    assert after == moved == replace(before, status=target, updated_at=at, ended_at=ended)
    assert (trail_after, audit_after) == (trail_before + 1, audit_before + 1)


def test_every_change_is_in_the_trail_and_the_audit_log(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    opened_at = clock.now
    alert_id = open_alert(db, pipeline, clock)
    t1, t2 = clock.advance(minutes=2), clock.advance(minutes=3)
    with db.transaction() as conn:
        alerts.acknowledge(conn, alert_id, "operator:li", t1, "calling the window supervisor")
        alerts.dismiss(conn, alert_id, "operator:zhang", t2, "staff member was at the back office")
        trail = ALERTS.history(conn, alert_id)

    assert [(t.at, t.actor, t.action, t.from_status, t.to_status, t.note) for t in trail] == [
        (opened_at, "rule:window-absence", "open", None, "open", ""),
        (t1, "operator:li", "acknowledge", "open", "acknowledged", "calling the window supervisor"),
        (t2, "operator:zhang", "dismiss", "acknowledged", "dismissed", "staff member was at the back office"),
    ]
    opened = {"from": None, "to": "open", "note": "", "event": "h1"}
    acknowledged = {"from": "open", "to": "acknowledged", "note": "calling the window supervisor"}
    dismissed = {"from": "acknowledged", "to": "dismissed", "note": "staff member was at the back office"}
    assert audit_entries(db, alert_id) == [
        ("rule:window-absence", "alert.open", opened_at, opened),
        ("operator:li", "alert.acknowledge", t1, acknowledged),
        ("operator:zhang", "alert.dismiss", t2, dismissed),
    ]


def test_helpers_name_their_action(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    first = open_alert(db, pipeline, clock)
    with db.transaction() as conn:
        assert alerts.acknowledge(conn, first, OPERATOR, clock.now).status == "acknowledged"
        assert alerts.close(conn, first, OPERATOR, clock.now).status == "closed"
    # A second alert from another camera and its rule, to be dismissed straight from open.
    other = take(db, pipeline, event("h2", clock.now, QUEUE))
    assert other.alert_id is not None
    with db.transaction() as conn:
        assert alerts.dismiss(conn, other.alert_id, OPERATOR, clock.now).status == "dismissed"
        assert [a.status for a in alerts.list_alerts(conn, status="dismissed")] == ["dismissed"]


@pytest.mark.parametrize("action", ["acknowledge", "close", "dismiss"])
def test_unknown_alert(db: Database, clock: Clock, action: str) -> None:
    with db.transaction() as conn:
        with pytest.raises(RecordNotFound, match="no alert 4242"):
            alerts.get_alert(conn, 4242)
        with pytest.raises(RecordNotFound, match="no alert 4242"):
            alerts.transition_alert(conn, 4242, action, OPERATOR, clock.now)
    assert count(db, "audit_log") == 0 and count(db, "alert_transitions") == 0


def test_dismissed_alert_lets_a_new_one_open_after_the_cooldown(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    alert_id = open_alert(db, pipeline, clock)
    dismissed_at = clock.advance(minutes=1)
    with db.transaction() as conn:
        alerts.dismiss(conn, alert_id, OPERATOR, dismissed_at, "false alarm")
    cooldown = timedelta(seconds=pipeline.deployment.rule_by_id[HALL["rule"]].cooldown)

    def at(offset: timedelta) -> datetime:
        clock.now = dismissed_at + offset
        return clock.now

    within = take(db, pipeline, event("h2", at(cooldown - timedelta(seconds=1)), HALL))
    assert within.outcome is Outcome.SUPPRESSED
    after = take(db, pipeline, event("h3", at(cooldown + timedelta(seconds=1)), HALL))
    assert after.outcome is Outcome.OPENED and after.alert_id not in (None, alert_id)
    with db.transaction() as conn:
        assert alerts.get_alert(conn, alert_id).status == "dismissed"
        assert after.alert_id is not None
        fresh = alerts.get_alert(conn, after.alert_id)
    assert (fresh.status, fresh.count, fresh.first_event, fresh.ended_at) == ("open", 1, "h3", None)


def test_an_acknowledged_alert_still_takes_repeats(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    alert_id = open_alert(db, pipeline, clock, "acknowledged")
    repeat = take(db, pipeline, event("h2", clock.now, HALL))
    assert (repeat.outcome, repeat.alert_id) == (Outcome.UPDATED, alert_id)
    with db.transaction() as conn:
        alert = alerts.get_alert(conn, alert_id)
    assert (alert.status, alert.count) == ("acknowledged", 2)
