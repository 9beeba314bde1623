"""docker-compose.yml cannot run here (no Docker engine); check it stays consistent with the code."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml
from typer.testing import CliRunner

from api.settings import ApiSettings
from offsite.cli import app

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


# --- a real compose implementation: Debian's docker-compose checks the file without a daemon ----


def compose(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on the repository's file, with only `env` (no .env of the checkout)."""
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: scripts/install-services.sh installs Debian's package"
    empty = tmp_path / "empty.env"
    empty.touch()
    return subprocess.run(
        [tool, "--env-file", str(empty), "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"PATH": os.environ["PATH"], **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


SECRETS = {"POSTGRES_PASSWORD": "db-secret-1", "OFFSITE_MQTT_PASSWORD": "mqtt-secret-1"}


def test_compose_refuses_to_start_without_the_broker_logins_and_says_how(tmp_path: Path) -> None:
    done = compose(tmp_path, **SECRETS, OFFSITE_CONFIG=str(REPO / "configs" / "demo.yaml"))
    assert done.returncode != 0, done.stdout
    assert "offsite iot acl -c DEPLOYMENT --out deploy" in done.stderr, done.stderr


def test_compose_mounts_what_offsite_iot_acl_writes(tmp_path: Path) -> None:
    auth = tmp_path / "deploy"
    written = CliRunner().invoke(
        app,
        ["iot", "acl", "-c", str(REPO / "configs" / "demo.yaml"), "--out", str(auth), "--owner", "0:0"],
        env={"OFFSITE_MQTT_PASSWORD": SECRETS["OFFSITE_MQTT_PASSWORD"]},
    )
    assert written.exit_code == 0, written.output
    done = compose(
        tmp_path, **SECRETS, OFFSITE_CONFIG=str(REPO / "configs" / "demo.yaml"), OFFSITE_MQTT_AUTH=str(auth)
    )
    assert done.returncode == 0, done.stderr
    broker = yaml.safe_load(done.stdout)["services"]["broker"]
    # docker-compose 1.29 prints the short form (SOURCE:TARGET:MODE), v2 the long one.
    volumes = [
        m.split(":")[:2] if isinstance(m, str) else [m["source"], m["target"]] for m in broker["volumes"]
    ]
    mounts = {target: source for source, target in volumes}
    # Every file Mosquitto's config names is mounted, from a file that exists.
    conf = (REPO / "deploy" / "mosquitto.conf").read_text()
    named = re.findall(r"^(?:password_file|acl_file)\s+(\S+)", conf, re.MULTILINE)
    assert named and set(named) <= set(mounts), (named, mounts)
    for target in named:
        assert Path(mounts[target]).is_file(), f"{target} <- {mounts[target]}: not written by offsite iot acl"


def test_the_image_carries_every_package_and_the_dashboard() -> None:
    """A package the image does not copy fails at import inside the container (`offsite edge` did),
    and an image without the built dashboard serves the API with nothing at /."""
    import tomllib

    dockerfile = (REPO / "Dockerfile").read_text()
    found = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {name.rstrip("*") for name in found["include"]}
    copied = set(re.findall(r"^COPY (\w+) \1$", dockerfile, re.MULTILINE))
    assert packages <= copied, f"the Dockerfile does not copy {sorted(packages - copied)}"
    assert re.search(r"^RUN npm run build\b", dockerfile, re.MULTILINE), "the image does not build web/"
    assert re.search(r"^COPY --from=\w+ /src/api/web_dist api/web_dist$", dockerfile, re.MULTILINE)
    ignored = (REPO / ".dockerignore").read_text().split()
    for kept_out in (".env", ".venv", "web/node_modules", "deploy/passwd", "deploy/acl"):
        assert kept_out in ignored, f".dockerignore lets {kept_out} into the image's context"
