"""The MQTT decoder and the writer driven with generated messages on the food plant's two sites:
whatever a device sends (names, values, times, topics, retained or not), the decoder never raises,
every message is stored or dead-lettered, nothing stored belongs to another site than the topic's,
and the real database takes every batch the decoder hands on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.events import EARLIEST
from hub.store.db import Database
from iot.payloads import Decoder
from iot.writer import DeadLetter, write_batch
from tests.iot.conftest import plant_config

DEPLOYMENT = plant_config(auto_register=True)  # unknown sensors too: their ids come from the topic
NOW = datetime.now(UTC).replace(microsecond=0)
SITES = [site.id for site in DEPLOYMENT.sites]
SENSORS = [sensor.id for sensor in DEPLOYMENT.sensors]
METRICS = sorted({metric for sensor in DEPLOYMENT.sensors for metric in sensor.metrics})

# Any Unicode a JSON document can carry, lone surrogates and NUL included.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=70)
NAMES = st.one_of(st.sampled_from([*METRICS, "ts", "time", "timestamp", "sensor"]), TEXT)


def _times() -> st.SearchStrategy[Any]:
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    anywhere = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)
    recent = st.integers(-7 * 86400, 900).map(lambda s: NOW + timedelta(seconds=s))
    iso = st.one_of(anywhere, recent).map(lambda t: t.isoformat())
    return st.one_of(iso, st.integers(-(2**63), 2**63), st.floats(), TEXT, st.none())


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT, _times())
VALUES = st.one_of(st.floats(-60, 100), st.integers(0, 100), SCALARS)
# Mostly what a device means to send (its metrics, a time), with anything at all mixed in.
OBJECTS = st.builds(
    lambda values, stamp: {**values, **stamp},
    st.dictionaries(st.one_of(st.sampled_from(METRICS), NAMES), VALUES, max_size=4),
    st.one_of(
        st.just({}),
        st.builds(lambda key, t: {key: t}, st.sampled_from(["ts", "time", "timestamp"]), _times()),
    ),
)
BODIES = st.recursive(
    st.one_of(SCALARS, OBJECTS), lambda inner: st.lists(inner, max_size=4) | OBJECTS, max_leaves=12
)
PLACES = [(sensor.site, sensor.id) for sensor in DEPLOYMENT.sensors]


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes]:
    """A topic (a sensor at its site, at another site, an unknown one, a gateway) and a payload."""
    site, sensor = draw(st.sampled_from(PLACES))
    kind = draw(st.sampled_from(["own", "own", "own", "foreign", "unknown", "gateway"]))
    if kind == "foreign":
        site = draw(st.sampled_from([s for s in [*SITES, "nowhere"] if s != site]))
    topic = f"sites/{site}/sensors/{'probe-9' if kind == 'unknown' else sensor}/telemetry"
    if kind == "gateway":
        topic = f"sites/{site}/gateways/{draw(st.sampled_from(['logger-1', 'gw']))}/telemetry"
    if kind == "unknown":  # every name is taken as a metric: the names' checks alone stand guard
        anything = st.dictionaries(NAMES, st.floats(-1e6, 1e6), min_size=1, max_size=4)
        return topic, json.dumps(draw(st.one_of(anything, BODIES))).encode("utf-8", "surrogatepass")
    metrics = DEPLOYMENT.sensor_by_id[sensor].metrics
    meant = st.builds(
        lambda values, extra: {**values, **extra},
        st.fixed_dictionaries({m: st.floats(d.min, d.max) for m, d in metrics.items()}),
        st.one_of(st.just({}), OBJECTS),
    )
    body = draw(st.one_of(BODIES, meant, st.lists(meant, max_size=3)))
    return topic, json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages(), retained=st.booleans())
def test_every_message_is_stored_or_dead_lettered_and_the_database_takes_it(
    db: Database, message: tuple[str, bytes], retained: bool
) -> None:
    topic, payload = message
    decoded = Decoder(DEPLOYMENT).decode(topic, payload, NOW, retained=retained)
    assert decoded.readings or decoded.refusals, (topic, payload)
    topic_site = topic.split("/")[1]
    for reading in decoded.readings:
        known = DEPLOYMENT.sensor_by_id.get(reading.sensor)
        assert known is None or known.site == topic_site, reading
        for name in (reading.sensor, reading.metric):
            assert 0 < len(name) <= 64 and name.isprintable(), reading  # no NUL, control or surrogate
        assert EARLIEST <= reading.time <= NOW + timedelta(seconds=DEPLOYMENT.iot.max_skew), reading
    dead = [DeadLetter(NOW, topic, payload, r.sensor, r.reason) for r in decoded.refusals]
    with db.pool.connection() as conn, conn.transaction(force_rollback=True):
        assert write_batch(conn, decoded.readings, dead) == len(
            {(r.sensor, r.metric, r.time) for r in decoded.readings}
        )
