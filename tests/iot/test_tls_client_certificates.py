"""Client certificates: an `mqtts://` broker that requires one (Mosquitto's `require_certificate`),
for both receive loops; the certificate's paths come from the environment."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from harness.mosquitto import start_broker
from hub.config import Settings
from hub.host import free_port, wait_until
from hub.store.db import Database
from iot.intake import BrokerAddress, SensorIngest
from tests.iot.conftest import TEMP_TOPIC, iot_config
from tests.iot.test_intake import Publisher, make_certificates, reading, row_count


def make_client_certificate(folder: Path) -> None:
    """client.pem and client.key, signed by the CA `make_certificates` made in `folder`."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
            "-subj", "/CN=offsite-iot")  # fmt: skip
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "client.pem", "-days", "2")  # fmt: skip


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "paho-3.1.1"])
def test_a_broker_requiring_client_certificates_takes_ours_and_refuses_none(
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    mqtt5: bool,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(make_certificates(tmp_path)))
    make_client_certificate(tmp_path)
    plain = free_port()  # the devices' listener; the ingest's requires a client certificate
    broker = start_broker(
        f"certfile {tmp_path / 'server.pem'}\nkeyfile {tmp_path / 'server.key'}\n"
        f"cafile {tmp_path / 'ca.pem'}\nrequire_certificate true\nlistener {plain} 127.0.0.1\n"
    )
    url = f"mqtts://127.0.0.1:{broker.port}"
    deployment = iot_config(batch_wait=0.05)
    try:
        if mqtt5:  # paho logs nothing of its own: the refusal's log line is the MQTT 5 loop's
            bare = SensorIngest(deployment, db, BrokerAddress.from_url(url), client_id="bare")
            with caplog.at_level(logging.WARNING, logger="iot"):
                bare.start(wait=0)
                try:
                    assert wait_until(lambda: "client certificate" in caplog.text, 20), caplog.text
                    assert not bare.wait_connected(0)
                finally:
                    bare.stop()
            line = next(r.getMessage() for r in caplog.records if "client certificate" in r.getMessage())
            assert "requires a client certificate; set OFFSITE_MQTT_CERT and OFFSITE_MQTT_KEY" in line
            assert "\n" not in line
        monkeypatch.setenv("OFFSITE_MQTT_CERT", str(tmp_path / "client.pem"))
        monkeypatch.setenv("OFFSITE_MQTT_KEY", str(tmp_path / "client.key"))
        address = replace(BrokerAddress.from_settings(url, Settings()), mqtt5=mqtt5)
        ingest = SensorIngest(deployment, db, address, client_id="certified")
        ingest.start()
        try:
            assert ingest.wait_connected(10), ingest.stats
            device = Publisher(replace(broker, port=plain))
            device.send(TEMP_TOPIC, reading(0))
            device.finish()
            assert wait_until(lambda: row_count(db, "readings") == 1 and ingest.stats.acked == 1, 10)
        finally:
            ingest.stop()
    finally:
        broker.remove()


def test_a_client_certificate_that_cannot_serve_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFSITE_MQTT_CERT", str(tmp_path / "missing.pem"))
    with pytest.raises(
        ValueError, match=r"client certificate .*missing\.pem .*OFFSITE_MQTT_CERT.* cannot be loaded"
    ):
        BrokerAddress.from_settings("mqtts://broker", Settings())
    with pytest.raises(ValueError, match="needs a TLS broker URL: mqtts://"):
        BrokerAddress.from_settings("mqtt://broker", Settings())
    monkeypatch.delenv("OFFSITE_MQTT_CERT")
    monkeypatch.setenv("OFFSITE_MQTT_KEY", str(tmp_path / "client.key"))
    with pytest.raises(ValueError, match="OFFSITE_MQTT_KEY is set without OFFSITE_MQTT_CERT"):
        BrokerAddress.from_settings("mqtts://broker", Settings())
