"""The audit chain: intact after a realistic run, append-only, and tampering named by entry,
through the library and the `offsite audit verify` command, on both servers."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from hub import alerts, audit, clues
from hub.pipeline import Pipeline
from hub.store.db import Database
from tests.conftest import REPO, Clock
from tests.hub.feed import GAS, HALL, WARM, event, take

# Audit entries the run below writes, by what writes them.
RUN_ENTRIES = {
    "alert.open": 3,
    "action.insert": 4,  # three findings and one inspection without a problem
    "clue.issue": 3,
    "alert.close": 1,  # the gas reading cleared
    "alert.acknowledge": 1,
    "clue.claim": 1,
    "clue.handle": 1,
    "clue.feed_back": 1,
    "clue.close": 1,
}


def realistic_run(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    """A morning: findings, a repeat, a redelivery, a clear, an inspection, and clue work."""
    t0 = clock.now - timedelta(minutes=10)
    m = timedelta(minutes=1)
    for e in [
        event("h1", t0, HALL, evidence=["a" * 64]),
        event("h2", t0 + m, HALL),
        event("h2", t0 + m, HALL),
        event("w1", t0 + 2 * m, WARM, payload={"value": -15.2}),
        event("g1", t0 + 3 * m, GAS, severity="critical"),
        event("g2", t0 + 5 * m, GAS, cleared=True),
        event("g3", t0 + 6 * m, GAS),  # inside the cooldown
        event("h3", t0 + 8 * m, HALL, problem=False),
    ]:
        take(db, pipeline, e)
    with db.transaction() as conn:
        hall = next(a for a in alerts.list_alerts(conn) if a.rule == HALL["rule"])
        alerts.acknowledge(conn, hall.id, "operator:duty-1", clock.advance(minutes=1), "calling the window")
        gas = next(c for c in clues.list_clues(conn, department="market") if c.rule == GAS["rule"])
        clues.claim(conn, gas.id, "market:wang", clock.advance(minutes=1), department="market")
        clues.handle(conn, gas.id, "market:wang", clock.advance(minutes=1), "valve shut", department="market")
        clues.feed_back(
            conn, gas.id, "market:wang", clock.advance(minutes=1), "confirmed", "valve replaced – 阀门已更换",
            department="market",
        )  # fmt: skip
        clues.close(conn, gas.id, "supervisor:zhao", clock.advance(minutes=1), "accepted")


def entry_seqs(db: Database) -> list[int]:
    with db.transaction() as conn:
        return [int(row[0]) for row in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]


def verify(db: Database) -> audit.AuditReport:
    with db.transaction() as conn:
        return audit.verify(conn)


def tamper(db: Database, statement: str, seq: int) -> None:
    """Run `statement` with triggers off in this session, as a superuser could."""
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(statement, (seq,))


def run_cli(db: Database, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OFFSITE_DATABASE_URL": db.dsn,
        "OFFSITE_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(REPO),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "offsite.cli", "audit", "verify"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_realistic_run_leaves_an_intact_chain(db: Database, pipeline: Pipeline, clock: Clock) -> None:
    realistic_run(db, pipeline, clock)
    with db.transaction() as conn:
        written = dict(conn.execute("SELECT action, count(*) FROM audit_log GROUP BY action").fetchall())
    assert written == RUN_ENTRIES
    assert verify(db) == audit.AuditReport(entries=sum(RUN_ENTRIES.values()))
    assert verify(db).intact


def test_an_empty_log_is_intact(db: Database) -> None:
    assert verify(db) == audit.AuditReport(entries=0)


@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE audit_log SET actor = 'someone-else'", "UPDATE"),
        ("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)", "DELETE"),
        ("TRUNCATE audit_log", "TRUNCATE"),
    ],
)
def test_the_log_refuses_changes(
    db: Database, pipeline: Pipeline, clock: Clock, statement: str, operation: str
) -> None:
    realistic_run(db, pipeline, clock)
    before = entry_seqs(db)
    refused = f"audit_log is append-only: {operation} refused"
    with pytest.raises(psycopg.errors.RaiseException, match=refused), db.transaction() as conn:
        conn.execute(statement)
    assert entry_seqs(db) == before
    assert verify(db).intact


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET detail = jsonb_set(detail, '{note}', '\"edited\"') WHERE seq = %s",
        "UPDATE audit_log SET actor = 'operator:nobody' WHERE seq = %s",
        "UPDATE audit_log SET at = at - interval '1 hour' WHERE seq = %s",
        "UPDATE audit_log SET subject = 'alert:999' WHERE seq = %s",
    ],
    ids=["detail", "actor", "at", "subject"],
)
@pytest.mark.parametrize("k", [0, 6, -1], ids=["first", "middle", "last"])
def test_an_edited_entry_is_named(
    db: Database, pipeline: Pipeline, clock: Clock, statement: str, k: int
) -> None:
    realistic_run(db, pipeline, clock)
    seqs = entry_seqs(db)
    tamper(db, statement, seqs[k])
    report = verify(db)
    assert (report.broken_at, report.intact) == (seqs[k], False)
    assert report.reason == f"entry {seqs[k]} was altered: its content does not match its hash"
    assert report.entries == seqs.index(seqs[k]) + 1  # stops at the first bad entry


def test_an_edit_with_its_hash_recomputed_breaks_the_next_entry(
    db: Database, pipeline: Pipeline, clock: Clock
) -> None:
    realistic_run(db, pipeline, clock)
    seqs = entry_seqs(db)
    k = seqs[4]
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT seq, at, actor, action, subject, detail, prev_hash FROM audit_log WHERE seq = %s", (k,)
        ).fetchone()
    assert row is not None
    forged = audit.entry_hash(row[0], row[1], "operator:nobody", *row[3:])
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE audit_log SET actor = 'operator:nobody', hash = %s WHERE seq = %s", (forged, k))
    report = verify(db)
    assert report.broken_at == seqs[5]
    assert "does not follow" in report.reason


@pytest.mark.parametrize("k", [0, 6], ids=["first", "middle"])
def test_a_deleted_entry_is_named_by_the_next(db: Database, pipeline: Pipeline, clock: Clock, k: int) -> None:
    realistic_run(db, pipeline, clock)
    seqs = entry_seqs(db)
    tamper(db, "DELETE FROM audit_log WHERE seq = %s", seqs[k])
    report = verify(db)
    assert report.broken_at == seqs[k + 1]
    assert report.reason == (
        f"entry {seqs[k + 1]} does not follow the one before it (an entry was removed or edited)"
    )


@pytest.mark.parametrize("n", [1, 3])
def test_cutting_off_the_latest_entries_is_noticed(
    db: Database, pipeline: Pipeline, clock: Clock, n: int
) -> None:
    realistic_run(db, pipeline, clock)
    seqs = entry_seqs(db)
    with psycopg.connect(db.dsn, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit_log WHERE seq >= %s", (seqs[-n],))
    report = verify(db)
    assert report.broken_at == seqs[-1]
    assert report.reason == f"entry {seqs[-1]}, the latest written, is missing"


def test_the_command_reports_the_chain(
    db: Database, pipeline: Pipeline, clock: Clock, tmp_path: Path
) -> None:
    realistic_run(db, pipeline, clock)
    total = sum(RUN_ENTRIES.values())
    intact = run_cli(db, tmp_path)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert f"audit trail intact: {total} entries" in intact.stdout

    k = entry_seqs(db)[6]
    tamper(db, 'UPDATE audit_log SET detail = detail || \'{"note": "edited"}\' WHERE seq = %s', k)
    broken = run_cli(db, tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "audit trail broken" in broken.stdout
    assert f"entry {k} was altered" in broken.stdout
