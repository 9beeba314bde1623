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

# Per kind: its table, and its rows (`{rows}`, alias `x`) as JSON with their filter columns. Clues
# and records take their severity from the alert they rest on (a record of an inspection without a
# finding has none).
_TABLE: dict[ChangeKind, str] = {"alert": "alerts", "clue": "risk_clues", "record": "supervision_actions"}
_SNAPSHOT: dict[ChangeKind, str] = {
    "alert": "SELECT x.id, x.site, NULL AS department, x.severity, to_jsonb(x) AS body FROM {rows} x",
    "clue": "SELECT x.id, x.site, x.department_code AS department, a.severity, to_jsonb(x)"
    " || jsonb_build_object('supervisors', ARRAY(SELECT s.department FROM clue_supervisors s"
    " WHERE s.clue_id = x.id ORDER BY s.at, s.deadline)) AS body"
    " FROM {rows} x LEFT JOIN alerts a ON a.id = x.alert_id",
    "record": "SELECT x.id, x.site, x.department_code AS department, a.severity, to_jsonb(x) AS body"
    " FROM {rows} x LEFT JOIN alerts a ON a.id = x.alert_id",
}
_COLUMNS = "INSERT INTO outbox (kind, subject, change, site, department, severity, body, created_at)"
_INSERT = {
    kind: f"{_COLUMNS} SELECT %(kind)s, s.id, %(change)s, s.site, s.department, s.severity, s.body, %(at)s"
    f" FROM ({select.format(rows=_TABLE[kind])} WHERE x.id = %(id)s) s"
    for kind, select in _SNAPSHOT.items()
}
_RETURNING_ID = " RETURNING id"


def enqueue(conn: Connection, kind: ChangeKind, subject: int, change: str, at: datetime) -> None:
    """Write the change `change` (an action: open, claim, insert, update...) of record `subject`
    to the outbox, in the caller's transaction."""
    conn.execute(_INSERT[kind], {"kind": kind, "id": subject, "change": change, "at": at})


def folded(insert: str, kind: ChangeKind, change: str) -> str:
    """`insert`, an INSERT of one row of `kind`'s table ending in RETURNING id, made to write the
    row's outbox change too, in the same statement: one round trip, the row not read back. Its
    parameters gain `outbox_at`, the time of the change; it still returns the row's id."""
    if not insert.endswith(_RETURNING_ID):
        raise ValueError(f"outbox.folded: the INSERT must end in{_RETURNING_ID}: ...{insert[-60:]!r}")
    return (
        f"WITH changed AS ({insert.removesuffix(_RETURNING_ID)} RETURNING *),"
        f" queued AS ({_COLUMNS} SELECT '{kind}', s.id, '{change}', s.site, s.department, s.severity,"
        f" s.body, %(outbox_at)s FROM ({_SNAPSHOT[kind].format(rows='changed')}) s)"
        " SELECT id FROM changed"
    )
