"""Sensors wired to a box: a real Mosquitto on the site, the box's readings outbox and sensor
rules, a real hub (API, PostgreSQL); the link between box and hub cut by a TCP proxy of the
test's own, and the box killed with readings in its outbox."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from edge.box import disk_bounds
from edge.readings import ROW_BYTES, ReadingsOutbox
from edge.sensors import BoxSensors
from edge.uplink import HubUplink
from harness.mosquitto import Broker, start_broker
from harness.tcpproxy import TcpProxy
from hub.config import load_config
from hub.config.edge import hub_sensors
from hub.host import wait_until
from hub.sink import HubUnavailable
from hub.spool import DurableSink
from hub.store.device_health import HealthChange
from iot.readings import Reading
from iot.receiver import BrokerAddress
from tests.api.conftest import Api, serve
from tests.conftest import REPO, Server
from tests.edge.conftest import BLACKHOLE_TIMEOUT, CALLERS, TIMEOUT
from tests.iot.test_intake import Publisher

SITE = "lintong-coldstore"
GAS = "sites/lintong-coldstore/sensors/coldstore-gas/telemetry"
RULE = "coldstore-gas-high"  # above 20 %LEL for 5 s, clears below 15
SOURCE = "sensor:coldstore-gas"
# Gas readings 2 s apart: above 20 from the third (t=4 s), due at t=9 s, cleared at t=14 s.
LEVELS = [10.0, 10.0, 25.0, 26.0, 27.0, 28.0, 29.0, 10.0, 9.0, 8.0]


def edge_config(folder: Path) -> Path:
    """The demo's deployment with the cold store's sensors taken by its edge box."""
    data = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    for site in data["sites"]:
        site["sensors_at_edge"] = site["id"] == SITE
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return edge_config(tmp_path)


@pytest.fixture
def hub(embedded_server: Server, tmp_path: Path, config: Path) -> Iterator[Api]:
    with serve(embedded_server, tmp_path / "hub", str(config), CALLERS) as started:
        yield started


@pytest.fixture
def broker() -> Iterator[Broker]:
    started = start_broker()
    yield started
    started.remove()


class RecordingUplink(HubUplink):
    """An uplink that notes every batch of readings the hub took, in the order it took them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken: list[Reading] = []

    def readings(self, site: str, readings: Sequence[Reading], health: Sequence[HealthChange] = ()) -> int:
        stored = super().readings(site, readings, health)
        self.taken += readings
        return stored


@dataclass
class Box:
    sensors: BoxSensors
    readings: ReadingsOutbox
    events: DurableSink
    uplink: RecordingUplink

    def drain(self, timeout: float = 60) -> None:
        assert self.readings.drain(timeout), "readings still in the outbox"
        assert self.events.drain(timeout), "events still in the outbox"

    def close(self) -> None:
        self.sensors.stop()
        self.readings.close()
        self.events.close()
        self.uplink.close()


def start_box(folder: Path, url: str, token: str, broker: Broker, timeout: float = TIMEOUT) -> Box:
    deployment = load_config(edge_config(folder.parent)).deployment
    uplink = RecordingUplink(url, token, timeout=timeout)
    events = DurableSink(folder / "outbox.sqlite", uplink)
    readings = ReadingsOutbox(folder / "readings.sqlite", uplink, SITE)
    sensors = BoxSensors(deployment, SITE, BrokerAddress(port=broker.port), readings, events)
    sensors.start()
    assert sensors.wait_connected(10)
    return Box(sensors, readings, events, uplink)


def publish(broker: Broker, start: datetime, levels: list[float]) -> list[datetime]:
    """The gas levels published 2 s apart from `start`; their times."""
    device = Publisher(broker, client_id="gas-detector")
    times = [start + timedelta(seconds=2 * i) for i in range(len(levels))]
    for moment, level in zip(times, levels, strict=True):
        device.send(GAS, {"lel": level, "ts": moment.isoformat()})
    device.finish()
    return times


def readings_at_hub(hub: Api) -> list[tuple[datetime, float]]:
    with hub.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT time, value FROM readings WHERE sensor = 'coldstore-gas' ORDER BY time"
        ).fetchall()
    return [(t, v) for t, v in rows]


def alerts_at_hub(hub: Api) -> list[tuple[str, datetime, datetime | None]]:
    """(status, first seen, end) of the rule's alerts, oldest first."""
    with hub.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT status, first_seen, ended_at FROM alerts WHERE source = %s AND rule = %s"
            " ORDER BY first_seen",
            (SOURCE, RULE),
        ).fetchall()
    return [(s, f, e) for s, f, e in rows]


def events_at_hub(hub: Api) -> list[tuple[datetime, bool, float]]:
    """(time, cleared, seconds late) of the rule's events."""
    with hub.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT time, cleared, extract(epoch FROM received_at - time) FROM events"
            " WHERE source = %s AND rule = %s ORDER BY time",
            (SOURCE, RULE),
        ).fetchall()
    return [(t, c, float(late)) for t, c, late in rows]


def health_at_hub(hub: Api) -> list[tuple[str, str]]:
    with hub.hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT device, status FROM device_health WHERE kind = 'sensor' ORDER BY time, device"
        ).fetchall()
    return [(d, s) for d, s in rows]


def base_time() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


def test_a_box_sensor_crossing_a_threshold_raises_and_clears_the_alert_at_the_hub(
    hub: Api, broker: Broker, tmp_path: Path
) -> None:
    box = start_box(tmp_path / "box", hub.url, hub.tokens["box-cold"], broker)
    try:
        t0 = base_time()
        times = publish(broker, t0, LEVELS)
        box.drain()
        # Fired once the breach from t=4 s lasted 5 s; cleared by the reading at t=14 s.
        expected = [("closed", t0 + timedelta(seconds=9), t0 + timedelta(seconds=14))]
        assert wait_until(lambda: alerts_at_hub(hub) == expected, 30), alerts_at_hub(hub)
    finally:
        box.close()
    assert readings_at_hub(hub) == list(zip(times, LEVELS, strict=True))
    assert health_at_hub(hub) == [("coldstore-gas", "online")]  # the box heard it


def test_an_uplink_cut_loses_and_doubles_no_reading_and_alerts_follow_reading_time(
    hub: Api, broker: Broker, tmp_path: Path
) -> None:
    host, port = httpx.URL(hub.url).host, httpx.URL(hub.url).port
    assert port is not None
    proxy = TcpProxy((host, port))
    box = start_box(tmp_path / "box", proxy.url, hub.tokens["box-cold"], broker, BLACKHOLE_TIMEOUT)
    try:
        t0 = base_time()
        times = publish(broker, t0, LEVELS[:2])
        box.drain()
        with proxy.outage("blackhole"):
            # Fires, clears and, once the rule's cooldown of 300 s has passed (by reading time),
            # fires again, while the hub cannot be reached.
            times += publish(broker, t0 + timedelta(seconds=4), LEVELS[2:])
            times += publish(broker, t0 + timedelta(seconds=320), [30.0] * 5)
            assert wait_until(lambda: box.readings.depth() == len(LEVELS) - 2 + 5, 30)
            assert box.readings.stats.retries > 0 and len(readings_at_hub(hub)) == 2
        box.drain()
        expected = [
            ("closed", t0 + timedelta(seconds=9), t0 + timedelta(seconds=14)),
            ("open", t0 + timedelta(seconds=325), None),
        ]
        assert wait_until(lambda: alerts_at_hub(hub) == expected, 30), alerts_at_hub(hub)
    finally:
        box.close()
        proxy.close()
    levels = LEVELS + [30.0] * 5
    assert readings_at_hub(hub) == list(zip(times, levels, strict=True))  # each once
    assert [r.time for r in box.uplink.taken] == times  # taken in order
    late = {(t, cleared): seconds for t, cleared, seconds in events_at_hub(hub)}
    assert late[(t0 + timedelta(seconds=325), False)] > 60  # recorded as a late arrival


def test_a_box_may_send_only_its_own_sites_readings_and_a_batch_sent_again_is_stored_once(
    hub: Api,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    times = [(now - timedelta(seconds=10)).isoformat(), now.isoformat()]
    gas = {"sensor": "coldstore-gas", "metric": "lel", "times": times, "values": [12.5, 13.0]}
    batch = {"site": SITE, "series": [gas]}
    batch["health"] = [{"sensor": "coldstore-gas", "status": "online", "time": now.isoformat()}]
    first = hub.call("box-cold", "POST", "/edge/readings", json=batch)
    again = hub.call("box-cold", "POST", "/edge/readings", json=batch)
    assert first.json() == {"taken": 2, "stored": 2} and again.json() == {"taken": 2, "stored": 0}
    ahead = [times[0], "2030-01-01T00:00:00Z"]
    refused = [
        ("box-hall", batch, 403, "body.site"),
        ("box-hall", {**batch, "site": "lintong-hall"}, 403, "body.series[0].sensor"),
        ("box-cold", {**batch, "series": [{**gas, "metric": "co"}]}, 422, "body.series[0].metric"),
        ("box-cold", {**batch, "series": [{**gas, "values": [12.5, 140]}]}, 422, "body.series[0].values[1]"),
        ("box-cold", {**batch, "series": [{**gas, "times": ahead}]}, 422, "body.series[0].times[1]"),
        ("box-cold", {**batch, "series": [{**gas, "values": [1.0]}]}, 422, "body.series[0]"),
        ("box-hall", {**batch, "site": "lintong-hall", "series": []}, 403, "body.health[0].sensor"),
        ("operator", batch, 403, None),
    ]
    for who, body, code, path in refused:
        answer = hub.call(who, "POST", "/edge/readings", json=body)
        assert answer.status_code == code, (who, answer.text)
        if path is not None:
            assert answer.json()["detail"][0]["path"] == path, answer.text
    assert len(readings_at_hub(hub)) == 2 and health_at_hub(hub) == [("coldstore-gas", "online")]


def test_the_sensors_a_box_takes_are_left_alone_by_the_hubs_ingest(tmp_path: Path) -> None:
    deployment = load_config(edge_config(tmp_path)).deployment
    at_hub = hub_sensors(deployment)
    assert {s.site for s in deployment.sensors} - {s.site for s in at_hub.sensors} == {SITE}
    assert "coldstore-gas-high" not in at_hub.rule_by_id and "coldstore-gas" not in at_hub.sensor_by_id
    others = {r.id for r in deployment.rules if deployment.rule_site.get(r.id) != SITE}
    assert others <= set(at_hub.rule_by_id)  # the other sites' rules stay
    unmarked = load_config(REPO / "configs" / "demo.yaml").deployment
    assert len(hub_sensors(unmarked).sensors) == len(unmarked.sensors)  # by default the hub takes all


class AwayUplink:
    def readings(self, site: str, readings: Sequence[Reading], health: Sequence[HealthChange] = ()) -> int:
        raise HubUnavailable("the hub is away", [])


def test_a_full_readings_outbox_evicts_the_oldest_readings_and_counts_them(tmp_path: Path) -> None:
    outbox = ReadingsOutbox(tmp_path / "readings.sqlite", AwayUplink(), SITE, limit_rows=6)
    t0 = base_time()
    try:
        outbox.put([Reading("coldstore-gas", "lel", t0 + timedelta(seconds=i), float(i)) for i in range(10)])
        assert outbox.depth() == 6 and outbox.stats.evicted == 4
        kept = outbox.recent(["coldstore-gas"], t0)
        assert [r.value for r in kept] == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]  # the oldest went
    finally:
        outbox.close()


def box_command(folder: Path, url: str, token: str, broker: Broker) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OFFSITE_")}
    env = {
        **base,
        "PYTHONPATH": str(REPO),
        "COLUMNS": "200",
        "OFFSITE_HUB_URL": url,
        "OFFSITE_EDGE_TOKEN": token,
        "OFFSITE_DATA_DIR": str(folder),
        "OFFSITE_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "OFFSITE_HEARTBEAT_EVERY": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "offsite.cli", "edge", "-c", str(edge_config(folder)),
         "--site", SITE, "--every", "1"],
        env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def said(box: subprocess.Popen[str], line: str, timeout: float) -> bool:
    """Whether the box prints a line starting with `line` within `timeout` seconds."""
    heard = threading.Event()

    def read() -> None:
        assert box.stdout is not None
        for text in box.stdout:
            if text.startswith(line):
                heard.set()
                return

    threading.Thread(target=read, daemon=True).start()
    return heard.wait(timeout)


def waiting(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT count(*) FROM readings WHERE sent = 0").fetchone()[0])
        except sqlite3.OperationalError:  # created, its tables not yet
            return 0


def test_offsite_edge_killed_with_readings_in_its_outbox_delivers_them_after_restart(
    hub: Api, broker: Broker, tmp_path: Path
) -> None:
    host, port = httpx.URL(hub.url).host, httpx.URL(hub.url).port
    assert port is not None
    proxy = TcpProxy((host, port))
    proxy.set_mode("reset")  # the hub cannot be reached: everything stays in the outboxes
    folder = tmp_path / "box"
    folder.mkdir()
    spool = folder / "outbox" / f"{SITE}-readings.sqlite"
    box = box_command(folder, proxy.url, hub.tokens["box-cold"], broker)
    try:
        assert said(box, "edge: sensors from", 60), "the box did not subscribe"
        t0 = base_time()
        times = publish(broker, t0, LEVELS)
        assert wait_until(lambda: waiting(spool) == len(LEVELS), 60), waiting(spool)
        box.send_signal(signal.SIGKILL)
        box.wait(timeout=30)
        proxy.set_mode("pass")
        box = box_command(folder, proxy.url, hub.tokens["box-cold"], broker)
        assert wait_until(lambda: len(readings_at_hub(hub)) == len(LEVELS), 90), readings_at_hub(hub)
        expected = [("closed", t0 + timedelta(seconds=9), t0 + timedelta(seconds=14))]
        assert wait_until(lambda: alerts_at_hub(hub) == expected, 60), alerts_at_hub(hub)
    finally:
        box.send_signal(signal.SIGTERM)
        out, _ = box.communicate(timeout=60)
        proxy.close()
    assert readings_at_hub(hub) == list(zip(times, LEVELS, strict=True)), out


def test_the_two_outboxes_share_one_disk_budget(config: Path) -> None:
    """`edge.outbox_limit_mb` bounds the box's disk: a box taking its site's sensors gives their
    readings a share of it instead of a second budget as large."""
    deployment = load_config(config).deployment
    total = int(deployment.edge.outbox_limit_mb * 2**20)
    events, readings = disk_bounds(deployment, SITE)
    assert events + readings * ROW_BYTES <= total
    assert 0 < readings * ROW_BYTES < events
    other = next(s.id for s in deployment.sites if s.id != SITE)  # its sensors stay with the hub
    assert disk_bounds(deployment, other)[0] == total
