"""What the outbox syncs to the disk: nothing while the hub takes every entry at once (the hub's
commit is the durable copy), and everything it kept before the producer's call returns while the
hub is away (so that a power cut loses none of it); `kill -9` of a producer loses nothing either
way (tests/edge/test_uplink.py, tests/hub/test_spool.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.uplink import HubUplink
from hub.host import free_port
from hub.sink import Fate
from hub.spool import DurableSink
from tests.api.conftest import Api
from tests.edge.conftest import TIMEOUT, box, hall_scenario
from tests.hub.test_spool import deliver


def count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The file descriptors the outbox syncs, as it syncs them (through the real `os.fsync`)."""
    synced: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr("hub.spool.os.fsync", fsync)
    return synced


def test_entries_the_hub_takes_at_once_cost_no_sync(
    hub: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox, uplink = box(tmp_path / "outbox.sqlite", hub.url, hub.tokens["box-hall"], TIMEOUT)
    synced = count_syncs(monkeypatch)
    try:
        deliver(outbox, hall_scenario())
        assert outbox.depth() == 0 and outbox.stats.delivered == len(hall_scenario())
        assert synced == []
    finally:
        outbox.close()
        uplink.close()


def test_entries_kept_while_the_hub_is_away_are_synced_before_the_call_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    away = HubUplink(f"http://127.0.0.1:{free_port()}", "token", timeout=0.5)  # nothing listens
    outbox = DurableSink(tmp_path / "outbox.sqlite", away)
    synced = count_syncs(monkeypatch)
    try:
        for e in hall_scenario()[:4]:
            before = len(synced)
            assert outbox.take([e])[0].fate is Fate.SPOOLED
            assert len(synced) > before, f"event {e.id} spooled without a sync"
            before = len(synced)
            outbox.keep(f"picture of {e.id}".encode(), "image/jpeg")
            assert len(synced) > before
        assert outbox.depth() == 4
    finally:
        outbox.close()
        away.close()
