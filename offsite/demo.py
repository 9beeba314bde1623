"""`offsite demo`: feed a morning of synthetic findings through the pipeline, show the records, then
serve the dashboard on them until Ctrl-C."""

from __future__ import annotations

import secrets
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import make_conninfo
from rich.console import Console
from rich.table import Table

from hub import audit, clues
from hub.alerts import acknowledge, list_alerts
from hub.config import LoadedConfig, Settings
from hub.events import Event
from hub.pipeline import utc_now
from hub.runtime import Hub
from hub.store.embedded import start_embedded
from hub.wording import moment, zone_note

if TYPE_CHECKING:
    from api.auth import Role
    from vision.service import VisionService

DEMO_DATABASE = "offsite_demo"
# The dashboard's demo logins: the duty operator and the department the cold store's clues go to.
# Their passwords are drawn on every run and printed; the database is made afresh on every run.
DEMO_LOGINS: tuple[tuple[Role, str, str | None], ...] = (
    ("operator", "demo-duty", None),
    ("department", "demo-market", "market"),
)


@dataclass(frozen=True)
class Serving:
    """Where the demo serves the dashboard after its scenario: 127.0.0.1 on `port` (None: a free
    one), or not at all when `serve` is false (scripts and tests)."""

    serve: bool = True
    port: int | None = None


def _sensors(hub: Hub, settings: Settings, console: Console) -> None:
    """Simulated sensors publish over MQTT; the ingest stores readings and runs the sensor rules."""
    from hub.host import wait_until
    from hub.sink import InProcessSink
    from iot.broker import EmbeddedBroker
    from iot.intake import BrokerAddress, SensorIngest
    from iot.simulate import cold_store_half_hour, publish

    broker = None
    if settings.mqtt_url:
        address = BrokerAddress.from_settings(settings.mqtt_url, settings)
    else:
        broker = EmbeddedBroker()
        broker.start()
        address = BrokerAddress(port=broker.port, mqtt5=False)  # amqtt speaks MQTT 3.1.1
    where = "embedded broker" if broker else "broker"
    # The simulated half hour arrives in a second; time moves on only once all of it is stored.
    ingest = SensorIngest(
        hub.config.deployment, hub.db, address, client_id="offsite-demo",
        sink=InProcessSink.of(hub, "iot:demo"), tick_every=None,
    )  # fmt: skip
    try:
        ingest.start()
        messages = cold_store_half_hour(hub.config.deployment, utc_now())
        publish(address.host, address.port, messages, mqtt5=address.mqtt5)
        if not wait_until(lambda: ingest.stats.messages >= len(messages), 30):
            console.print(f"[red]only {ingest.stats.messages} of {len(messages)} sensor messages arrived[/]")
        ingest.tick()  # now: the silent sensor goes offline
    finally:
        ingest.stop()
        if broker is not None:
            broker.stop()
    s = ingest.stats
    console.print(f"  sensors: {s.messages} MQTT messages via the {where} on 127.0.0.1:{address.port},"
                  f" {s.stored} readings stored, {s.events} rule events")  # fmt: skip
    with hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT rule, cleared, outcome FROM events"
            " WHERE source LIKE 'sensor:%%' AND outcome <> 'no_alert' ORDER BY time, id"
        ).fetchall()
    for rule, cleared, outcome in rows:
        console.print(f"  {rule:<24} {'cleared' if cleared else 'fired':<8} -> [cyan]{outcome}[/]")


def _fresh_database(server_dsn: str) -> str:
    """Recreate the demo's own database so that every run starts from nothing."""
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DEMO_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DEMO_DATABASE}")
    return make_conninfo(server_dsn, dbname=DEMO_DATABASE)


def run(loaded: LoadedConfig, settings: Settings, console: Console, serving: Serving | None = None) -> int:
    """Run the demo, then serve its dashboard until interrupted (unless told not to); returns the
    process exit code."""
    serving = serving or Serving()
    embedded = None
    server_dsn = settings.database_url
    if server_dsn is None:
        with console.status("starting the embedded PostgreSQL server"):
            embedded = start_embedded(settings.data_dir / "pg")
        server_dsn = embedded.dsn
    try:
        hub = Hub.start(loaded, settings, dsn=_fresh_database(server_dsn))
        try:
            _feed(hub, settings, console)
            _show(hub, console)
            with hub.db.transaction() as conn:
                report = audit.verify(conn)
            state = "[green]intact[/]" if report.intact else f"[red]BROKEN[/]: {report.reason}"
            console.print(f"Audit trail: {report.entries} entries, chain {state}")
            server = (
                f"the embedded server in {settings.data_dir / 'pg'}"
                if embedded
                else "the server of OFFSITE_DATABASE_URL"
            )
            evidence = Path(loaded.deployment.storage.evidence_dir).resolve()
            console.print(
                f"Demo data: database {DEMO_DATABASE} on {server}, made afresh on every run;"
                f" evidence (pictures, clips, CSV) under {evidence}, named by SHA-256", highlight=False
            )  # fmt: skip
            if serving.serve and report.intact:
                _serve(hub, serving.port, console)
        finally:
            hub.close()
    finally:
        if embedded is not None:
            embedded.stop()
    return 0 if report.intact else 1


def _serve(hub: Hub, port: int | None, console: Console) -> None:
    """The API and the dashboard on 127.0.0.1 with a demo login per role, until Ctrl-C or SIGTERM."""
    from api.auth import create_user
    from api.serving import ApiServer
    from api.web import DIST
    from hub.host import free_port

    logins = []
    with hub.db.transaction() as conn:
        for role, username, department in DEMO_LOGINS:
            password = secrets.token_urlsafe(12)
            create_user(conn, username, password, role, utc_now(), department=department)
            logins.append((role, username, password, department))
    server = ApiServer(hub, f"127.0.0.1:{port or free_port()}")
    server.start()  # CannotServe names the port and why
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    cameras = None
    try:
        cameras = _cameras_looping(hub, console)
        console.print(
            f"[bold]Dashboard[/] http://{server.host}:{server.port}/ (Ctrl-C to stop)", highlight=False
        )
        if not (DIST / "index.html").is_file():
            console.print("[yellow]the dashboard is not built (scripts/web.sh): only the API answers[/]")
        for role, username, password, department in logins:
            whose = f" ({department})" if department else ""
            console.print(f"  sign in as {role}{whose}: {username} / {password}", highlight=False)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if cameras is not None:
            cameras.stop()
        server.stop()
        console.print("Dashboard stopped")


def _cameras_looping(hub: Hub, console: Console) -> VisionService | None:
    """The demo's cameras again, their clips playing in a loop, so that the wall goes on receiving
    findings (and clearances) while the dashboard is served."""
    from vision.service import VisionService
    from vision.sink import HubSink

    deployment = hub.config.deployment
    cameras = [c.model_copy(update={"loop": True}) for c in deployment.cameras]
    names = [c.id for c in cameras if c.enabled and c.detect is not None]
    if not names:
        return None
    looping = deployment.model_copy(update={"cameras": cameras})
    with console.status("loading the detector"):
        service = VisionService(looping, HubSink(hub, actor="vision:demo"))
    service.start()
    console.print(f"  cameras {', '.join(names)} play their clips in a loop: findings reach the wall live")
    return service


def _cameras(hub: Hub, console: Console) -> None:
    """Demo cameras: clips composed on first run, analysed by the real person model."""
    from capture.health import CameraStatus
    from capture.sources import Source
    from hub.host import wait_until
    from offsite import scenes
    from vision.service import VisionService
    from vision.sink import HubSink

    made = {
        "hall-window-1": lambda: scenes.window_post_left(leave_at=3.0, duration=14.0),
        "hall-waiting": lambda: scenes.queue_builds(max_people=5, every=2.0, duration=16.0),
    }
    cameras = [c for c in hub.config.deployment.cameras if c.enabled and c.detect is not None]
    for camera in cameras:
        path = Path(Source.from_camera(camera).location)
        if camera.id in made and not path.exists():
            with console.status(f"composing the demo clip {path}"):
                path.parent.mkdir(parents=True, exist_ok=True)
                scenes.write_clip(made[camera.id](), path)
    with console.status("loading the detector"):
        service = VisionService(hub.config.deployment, HubSink(hub, actor="vision:demo"))
    done = [CameraStatus.OFFLINE]  # the demo's files end, and a camera at the end of its file is offline
    with console.status(f"analysing {len(cameras)} cameras"):
        service.start()
        try:
            wait_until(lambda: all(w.status in done for w in service.ingest.workers.values()), 90, 0.2)
        finally:
            service.stop()
    for camera_id, analyser in service.analysers.items():
        s = analyser.stats
        console.print(f"  camera {camera_id}: {s.frames} frames analysed, {s.detected} through the detector,"
                      f" {s.events} rule events, {s.clips} clips")  # fmt: skip
    with hub.db.transaction() as conn:
        rows = conn.execute(
            "SELECT id, source, rule, cleared, outcome, evidence FROM events"
            " WHERE source LIKE 'camera:%%' ORDER BY time, id"
        ).fetchall()
    for _, source, rule, cleared, outcome, evidence in rows:
        what = "cleared" if cleared else "fired"
        console.print(
            f"  {source:<22} {rule:<16} {what:<7} -> [cyan]{outcome}[/] ({len(evidence)} evidence files)"
        )
    if rows:  # an edge box that lost its acknowledgement sends the same event again
        first = rows[0][0]
        with hub.db.transaction() as conn:
            again = conn.execute(
                "SELECT source, site, rule, time, payload, evidence FROM events WHERE id = %s", (first,)
            ).fetchone()
        assert again is not None
        source, site, rule, at, payload, evidence = again
        taken = hub.take(Event(id=first, source=source, site=site, rule=rule, time=at, payload=payload,
                               evidence=evidence))  # fmt: skip
        console.print(
            f"  {source:<22} {rule:<16} resent  -> [cyan]{taken.outcome.value}[/] (the same event id)"
        )


def _feed(hub: Hub, settings: Settings, console: Console) -> None:
    console.print(f"[bold]Deployment[/] {hub.config.deployment.name} on {hub.backend.describe()}")
    _sensors(hub, settings, console)
    _cameras(hub, console)
    # An operator acknowledges the hall alert; the market department works its gas clue.
    now = utc_now()
    with hub.db.transaction() as conn:
        hall = next((a for a in list_alerts(conn) if a.rule == "window-absence"), None)
        if hall is None:
            console.print("[red]the window camera raised no absence alert[/]")
        else:
            acknowledge(conn, hall.id, "operator:duty-1", now, "calling the window supervisor")
        gas = next(c for c in clues.list_clues(conn, department="market") if c.rule == "coldstore-gas-high")
        # The department attaches the gas readings since the repair, kept by SHA-256.
        series = conn.execute(
            "SELECT time, value FROM readings WHERE sensor = 'coldstore-gas' AND time > %s ORDER BY time",
            (gas.issued_at - timedelta(minutes=5),),
        ).fetchall()
        csv = "time,lel\n" + "".join(f"{t.isoformat()},{v}\n" for t, v in series)
        evidence = hub.evidence.register(conn, csv.encode(), "text/csv")
        clues.claim(conn, gas.id, "market:wang", now, department="market")
        clues.handle(conn, gas.id, "market:wang", now, "inspector on site, valve closed", department="market")
        clues.feed_back(
            conn, gas.id, "market:wang", now, "confirmed", "leak at the compressor valve, repaired",
            [evidence], department="market",
        )  # fmt: skip


def _show(hub: Hub, console: Console) -> None:
    now, tz = utc_now(), hub.config.deployment.tz
    with hub.db.transaction() as conn:
        alerts = list_alerts(conn)
        actions = conn.execute(
            "SELECT item_code, department_name, coalesce(object_name, '-'), area_code, result, batch_id"
            " FROM supervision_actions ORDER BY id"
        ).fetchall()
        issued = clues.list_clues(conn)
    table = Table(title="Alerts")
    for column in ("id", "rule", "source", "severity", "status", "count", "first seen"):
        table.add_column(column)
    for a in reversed(alerts):
        table.add_row(
            str(a.id),
            a.rule,
            a.source,
            a.severity,
            a.status,
            str(a.count),
            moment(a.first_seen, tz, "%H:%M:%S"),
        )
    console.print(table)
    table = Table(title="Supervision-action records (监管行为)")
    for column in ("item", "department", "object", "area", "result", "batch"):
        table.add_column(column)
    for row in actions:
        table.add_row(*map(str, row))
    console.print(table)
    table = Table(title="Risk clues (风险线索)")
    for column in ("id", "class", "department", "title", "status", "claim by", "overdue"):
        table.add_column(column)
    for c in reversed(issued):
        table.add_row(
            str(c.id), str(c.risk_class), c.department, c.title, c.status,
            moment(c.claim_deadline, tz, "%m-%d %H:%M"), c.overdue(now) or "-",
        )  # fmt: skip
    console.print(table)
    console.print(zone_note(tz, now), highlight=False)
