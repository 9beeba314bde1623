"""Evidence stored by content: round trip, idempotence, tamper detection, refused names, registry."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hub.evidence import EvidenceError, EvidenceStore
from hub.store.db import Database

SNAPSHOT = b"\xff\xd8\xff\xe0 a camera snapshot \x00\x01\x02"
SERIES = b"time,temperature_degC\n0,-19.0\n60,-15.2\n"


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_then_read(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    digest = store.put(SNAPSHOT)
    assert digest == hashlib.sha256(SNAPSHOT).hexdigest()
    assert store.read(digest) == SNAPSHOT
    assert store.exists(digest)
    assert stored_files(tmp_path) == [tmp_path / digest[:2] / digest]


def test_empty_bytes_are_evidence_too(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    assert store.read(store.put(b"")) == b""


def test_same_bytes_twice_make_one_file(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    first = store.put(SNAPSHOT)
    second = store.put(bytes(SNAPSHOT))
    other = store.put(SERIES)
    assert first == second != other
    assert stored_files(tmp_path) == sorted([store.path(first), store.path(other)])


def test_a_file_altered_on_disk_is_detected(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    digest = store.put(SNAPSHOT)
    store.path(digest).write_bytes(SNAPSHOT.replace(b"camera", b"kamera"))
    with pytest.raises(EvidenceError, match=f"evidence {digest} was altered on disk"):
        store.read(digest)


def test_missing_evidence(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"never stored").hexdigest()
    store = EvidenceStore(tmp_path)
    assert not store.exists(digest)
    with pytest.raises(EvidenceError, match=f"no evidence {digest}"):
        store.read(digest)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "abc123",
        "A" * 64,  # upper case
        "a" * 63,
        "a" * 65,
        "g" * 64,
        " " + "a" * 63,
        "a" * 64 + "\n",
        "../" + "a" * 61,
        "../../etc/passwd",
    ],
    ids=["empty", "short", "upper", "63", "65", "not-hex", "space", "newline", "dotdot", "traversal"],
)
def test_a_malformed_hash_is_refused(tmp_path: Path, name: str) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    expected = f"{name!r} is not a SHA-256 (64 lower-case hex digits)"
    for use in (store.read, store.exists, store.path):
        with pytest.raises(EvidenceError) as caught:
            use(name)
        assert str(caught.value) == expected, (
            f"BUG hub/evidence.py: {use.__name__}({name!r}) did not refuse the name as malformed"
            " (`_SHA256.match` with `$` lets a trailing newline through; use `fullmatch`)"
        )
    assert not (tmp_path / "evidence").exists()


def test_register_records_size_and_media_type(db: Database, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    with db.transaction() as conn:
        snapshot = store.register(conn, SNAPSHOT, "image/jpeg")
        series = store.register(conn, SERIES, "text/csv")
        again = store.register(conn, SNAPSHOT, "image/jpeg")
        rows = conn.execute("SELECT sha256, size, media_type FROM evidence ORDER BY size").fetchall()
    assert again == snapshot == hashlib.sha256(SNAPSHOT).hexdigest()
    assert sorted(rows) == sorted(
        [(snapshot, len(SNAPSHOT), "image/jpeg"), (series, len(SERIES), "text/csv")]
    )
    assert store.read(snapshot) == SNAPSHOT and store.read(series) == SERIES
