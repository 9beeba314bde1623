"""The one writer of `edge_boxes` (migrations 0010, 0013: each box's last heartbeat) and of
`edge_findings` (0013: what the hub finds wrong with a box, one open finding per box and kind).

A camera whose status differs from the box's previous heartbeat is also written to
`device_health`, through its own writer, so the cameras of a box have the same history as the
hub's own; so is a box going offline and coming back.

Findings follow the box's own word or its silence: a heartbeat raises or clears `clock_skew`
(the box's clock against the hub's), `outbox_evicting` (evidence evicted since the previous
heartbeat, or an outbox nearly full) and `config_refused`, and clears `edge_offline`, which
`watch_silence` raises for a box silent longer than the deployment allows.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Literal, get_args

from psycopg.types.json import Jsonb

from hub.config.edge import EdgeBoxes
from hub.store.db import Connection
from hub.store.device_health import HealthChange, store_health

FindingKind = Literal["edge_offline", "clock_skew", "outbox_evicting", "config_refused"]  # 0013's CHECK
FINDING_KINDS: tuple[FindingKind, ...] = get_args(FindingKind)
NEAR_FULL = 0.9  # an outbox this full gets a finding before it evicts anything


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a box says about itself, a row of `edge_boxes` by column name; `seen_at` is the
    hub's clock, `box_time` the box's."""

    box: str
    site: str
    seen_at: datetime
    box_time: datetime
    software: str
    config_version: str
    outbox_depth: int
    outbox_age_s: float
    load_1m: float = 0.0
    memory_free_bytes: int = 0
    disk_free_bytes: int = 0
    outbox_bytes: int = 0
    outbox_limit_bytes: int = 0
    outbox_evicted: int = 0  # evidence files evicted since the box started
    config_refused: str = ""  # why the box refused the newest config it pulled; empty when it runs it
    cameras: dict[str, str] = field(default_factory=dict)  # camera id -> status

    @property
    def skew(self) -> timedelta:
        """How far the box's clock is ahead of the hub's (negative: behind)."""
        return self.box_time - self.seen_at


@dataclass(frozen=True, slots=True)
class Finding:
    """One row of `edge_findings`."""

    box: str
    site: str
    kind: FindingKind
    raised_at: datetime
    cleared_at: datetime | None
    detail: str


_COLUMNS = [f.name for f in fields(Heartbeat)]
_UPSERT = (
    f"INSERT INTO edge_boxes ({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"
    f" ON CONFLICT (box) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in _COLUMNS[1:])}"
)


def store_heartbeat(conn: Connection, beat: Heartbeat, bounds: EdgeBoxes) -> list[HealthChange]:
    """Keep `beat` as the box's last heartbeat and raise or clear the findings it decides; the
    camera status changes it brought (recorded)."""
    row = conn.execute(
        "SELECT cameras, outbox_evicted FROM edge_boxes WHERE box = %s FOR UPDATE", (beat.box,)
    ).fetchone()
    before: dict[str, str] = dict(row[0]) if row is not None else {}
    evicted_before = int(row[1]) if row is not None else 0
    values = [Jsonb(v) if isinstance(v, dict) else v for v in astuple(beat)]
    conn.execute(_UPSERT, values)
    changes = [
        HealthChange(beat.seen_at, "camera", camera, status, f"reported by edge box {beat.box}")
        for camera, status in sorted(beat.cameras.items())
        if before.get(camera) != status
    ]
    if _clear(conn, beat.box, "edge_offline", beat.seen_at):
        changes.append(HealthChange(beat.seen_at, "edge", beat.box, "online", "heartbeats again"))
    store_health(conn, changes)
    for kind, detail in _judge(beat, bounds, evicted_before).items():
        if detail:
            _raise(conn, beat.box, beat.site, kind, beat.seen_at, detail)
        else:
            _clear(conn, beat.box, kind, beat.seen_at)
    return changes


def _judge(beat: Heartbeat, bounds: EdgeBoxes, evicted_before: int) -> dict[FindingKind, str]:
    """What the heartbeat says about each finding it decides: why it holds, or "" when it does not."""
    skew = beat.skew.total_seconds()
    clock = ""
    if abs(skew) > bounds.max_clock_skew:
        clock = (
            f"the box's clock is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the hub's"
            f" (allowed: {bounds.max_clock_skew:.0f} s)"
        )
    # A box that restarted counts its evictions from zero again.
    new = beat.outbox_evicted - (evicted_before if evicted_before <= beat.outbox_evicted else 0)
    full = beat.outbox_limit_bytes > 0 and beat.outbox_bytes >= NEAR_FULL * beat.outbox_limit_bytes
    outbox = ""
    if new > 0 or full:
        used = f"{beat.outbox_bytes / 2**20:.1f} of {beat.outbox_limit_bytes / 2**20:.1f} MB used"
        outbox = f"evicted {new} evidence file(s) or reading(s) since the last beat; {used}" if new else used
    return {"clock_skew": clock, "outbox_evicting": outbox, "config_refused": beat.config_refused}


def watch_silence(conn: Connection, now: datetime, bounds: EdgeBoxes) -> list[str]:
    """Raise `edge_offline` for each box silent longer than `bounds.offline_after` at `now`; the
    boxes newly found offline. Run it with the hub's upkeep."""
    silent = conn.execute(
        "SELECT box, site, seen_at FROM edge_boxes WHERE seen_at < %s ORDER BY box",
        (now - timedelta(seconds=bounds.offline_after),),
    ).fetchall()
    raised = []
    for box, site, seen_at in silent:
        detail = f"no heartbeat since {seen_at.isoformat()} ({(now - seen_at).total_seconds():.0f} s)"
        if _raise(conn, str(box), str(site), "edge_offline", now, detail):
            raised.append(str(box))
    store_health(conn, [HealthChange(now, "edge", box, "offline", "no heartbeat") for box in raised])
    return raised


def findings(conn: Connection, site: str | None = None, *, open_only: bool = True) -> list[Finding]:
    """The findings about boxes (of `site`), newest first; only those still open by default."""
    rows = conn.execute(
        "SELECT box, site, kind, raised_at, cleared_at, detail FROM edge_findings"
        " WHERE (%(site)s::text IS NULL OR site = %(site)s) AND (NOT %(open)s OR cleared_at IS NULL)"
        " ORDER BY raised_at DESC, id DESC LIMIT 1000",
        {"site": site, "open": open_only},
    ).fetchall()
    return [Finding(*row) for row in rows]


def boxes(conn: Connection, site: str | None = None) -> list[Heartbeat]:
    """The last heartbeat of every box (of `site`), by box name."""
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM edge_boxes WHERE %(site)s::text IS NULL OR site = %(site)s"
        " ORDER BY box",
        {"site": site},
    ).fetchall()
    return [Heartbeat(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class DeliveryLag:
    """How late a site's events reached the hub (received time minus event time) over a window."""

    site: str
    events: int
    late: int  # received more than the deployment's `edge.late_after` after they happened
    p50_s: float
    p95_s: float
    max_s: float


def delivery_lag(
    conn: Connection, since: datetime, late_after: float, site: str | None = None
) -> list[DeliveryLag]:
    """The delivery lag of the events received since `since`, per site (of `site`), by site."""
    rows = conn.execute(
        "WITH lag AS (SELECT site, extract(epoch FROM received_at - time)::float8 AS s FROM events"
        " WHERE received_at >= %(since)s AND (%(site)s::text IS NULL OR site = %(site)s))"
        " SELECT site, count(*), count(*) FILTER (WHERE s > %(late)s),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP (ORDER BY s),"
        " max(s) FROM lag GROUP BY site ORDER BY site",
        {"since": since, "site": site, "late": late_after},
    ).fetchall()
    return [
        DeliveryLag(str(s), int(n), int(late), float(p50), float(p95), float(m))
        for s, n, late, p50, p95, m in rows
    ]


LAG_BUCKETS = (1.0, 5.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0)  # seconds


def lag_histogram(conn: Connection, since: datetime) -> list[tuple[str, list[int], int, float]]:
    """Per site, of the events received since `since`: how many came at most each of
    `LAG_BUCKETS` seconds after they happened (cumulative), how many in all, and their lags' sum."""
    under = ", ".join(f"count(*) FILTER (WHERE s <= {bound})" for bound in LAG_BUCKETS)
    rows = conn.execute(
        f"SELECT site, count(*), coalesce(sum(s), 0), {under} FROM (SELECT site,"
        " extract(epoch FROM received_at - time)::float8 AS s FROM events WHERE received_at >= %s) lag"
        " GROUP BY site ORDER BY site",
        (since,),
    ).fetchall()
    return [(str(r[0]), [int(n) for n in r[3:]], int(r[1]), float(r[2])) for r in rows]


def _raise(conn: Connection, box: str, site: str, kind: FindingKind, at: datetime, detail: str) -> bool:
    """Open a finding unless one of the kind is open (its detail is then brought up to date);
    whether one was opened."""
    updated = conn.execute(
        "UPDATE edge_findings SET detail = %s WHERE box = %s AND kind = %s AND cleared_at IS NULL",
        (detail, box, kind),
    ).rowcount
    if updated:
        return False
    conn.execute(
        "INSERT INTO edge_findings (box, site, kind, raised_at, detail) VALUES (%s, %s, %s, %s, %s)",
        (box, site, kind, at, detail),
    )
    return True


def _clear(conn: Connection, box: str, kind: FindingKind, at: datetime) -> bool:
    """Clear the open finding of the kind, if any; whether there was one."""
    cleared = conn.execute(
        "UPDATE edge_findings SET cleared_at = %s WHERE box = %s AND kind = %s AND cleared_at IS NULL",
        (at, box, kind),
    ).rowcount
    return bool(cleared)
