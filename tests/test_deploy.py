"""docker-compose.yml cannot run here (no Docker engine); check it stays consistent with the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from api.settings import ApiSettings
from hub.cli import app

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_and_secrets() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"db", "broker", "hub", "iot", "edge"}
    assert services["db"]["image"].startswith("timescale/timescaledb:")
    assert services["broker"]["image"].startswith("eclipse-mosquitto:")
    text = (REPO / "docker-compose.yml").read_text()
    # Every secret is required from the environment, none is written in the file.
    for variable in ("POSTGRES_PASSWORD", "OFFSITE_MQTT_PASSWORD"):
        uses = re.findall(r"\$\{" + variable + r"(:\?[^}]*)?\}", text)
        assert uses and all(u.startswith(":?") for u in uses), variable
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
    # The hub serves the API from worker processes on the published port.
    hub = services["hub"]
    assert hub["command"][-2:] == ["--api", "0.0.0.0:8080"]
    assert hub["ports"] == ["${OFFSITE_API_PORT:-8080}:8080"]
    prefix = ApiSettings.model_config.get("env_prefix", "")
    api_settings = {k.removeprefix(prefix).lower() for k in hub["environment"] if k.startswith(prefix)}
    assert "workers" in api_settings and api_settings <= set(ApiSettings.model_fields)


def test_commands_exist_in_the_cli() -> None:
    runner = CliRunner()
    commands = [COMPOSE["services"][name]["command"] for name in ("hub", "iot", "edge")]
    commands += [COMPOSE["services"][name]["healthcheck"]["test"][2:] for name in ("hub", "iot", "edge")]
    for command in commands:
        words = [w for w in command if not w.startswith("-") and not w.startswith("/")]
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"offsite {' '.join(words)}: {result.output}"


def test_mounted_files_exist() -> None:
    for service in COMPOSE["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy/") and source.endswith(".conf"):
                assert (REPO / source).is_file(), source
    assert (REPO / "Dockerfile").is_file()
