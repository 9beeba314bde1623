"""The one writer of the transactional outbox (migration 0011): a change of an alert, a risk clue
or a supervision-action record, written in the transaction of the change itself.

Each row holds the record as it stands after the change (`body`) and what a destination filters
on (site, department code, severity), so that delivery reads nothing else. A clue's body adds
`supervisors`: the departments (ids) it was escalated to (hub/escalation.py), which may read it
from then on, so that their webhooks take its escalation and what follows. hub/delivery.py takes
the rows from there; a change that is rolled back leaves no row, one that commits always does.
"""

from __future__ import annotations

from datetime import datetime

from hub.config.outputs import ChangeKind
from hub.store.db import Connection

# Per kind: the row as JSON and its filter columns. Clues and records take their severity from
# the alert they rest on (a record of an inspection without a finding has none).
_SNAPSHOT: dict[ChangeKind, str] = {
    "alert": "SELECT a.site, NULL, a.severity, to_jsonb(a) FROM alerts a WHERE a.id = %(id)s",
    "clue": "SELECT c.site, c.department_code, a.severity, to_jsonb(c) || jsonb_build_object('supervisors',"
    " ARRAY(SELECT s.department FROM clue_supervisors s WHERE s.clue_id = c.id ORDER BY s.at, s.deadline))"
    " FROM risk_clues c LEFT JOIN alerts a ON a.id = c.alert_id WHERE c.id = %(id)s",
    "record": "SELECT r.site, r.department_code, a.severity, to_jsonb(r) FROM supervision_actions r"
    " LEFT JOIN alerts a ON a.id = r.alert_id WHERE r.id = %(id)s",
}
_INSERT = {
    kind: "INSERT INTO outbox (kind, subject, change, site, department, severity, body, created_at)"
    f" SELECT %(kind)s, %(id)s, %(change)s, s.*, %(at)s FROM ({select}) s"
    for kind, select in _SNAPSHOT.items()
}


def enqueue(conn: Connection, kind: ChangeKind, subject: int, change: str, at: datetime) -> None:
    """Write the change `change` (an action: open, claim, insert, update...) of record `subject`
    to the outbox, in the caller's transaction."""
    conn.execute(_INSERT[kind], {"kind": kind, "id": subject, "change": change, "at": at})
