"""The README's commands as a newcomer runs them: in a fresh folder, without XDG_RUNTIME_DIR (a root
shell without a login session, like the test command's), through `.venv/bin/offsite`. Every one
exits as it should and writes no warning and no traceback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from hub.host import free_port
from tests.conftest import REPO

VENV = REPO / ".venv"
NOISE = re.compile(r"Warning|Traceback|Error:|WARNING")


def newcomer_env() -> dict[str, str]:
    """The environment of a fresh shell: no OFFSITE_* settings and no XDG_RUNTIME_DIR."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OFFSITE_", "XDG_RUNTIME_DIR"))}
    return {**env, "COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A folder like the repository root for these commands, with nothing under var/ yet."""
    for name in ("configs", ".venv"):
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def readme_block(heading: str) -> str:
    """The first shell block under `heading` in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, f"README: no sh block under {heading!r}"
    return found.group(1)


def test_try_the_api_as_the_readme_says(fresh: Path) -> None:
    port = free_port()
    script = readme_block("Try the API").replace("8080", str(port))
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=fresh,
        env=newcomer_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not NOISE.search(done.stderr), done.stderr
    out = done.stdout
    assert '{"items":[],"next_cursor":null}' in out, out
    assert '"id":"lintong-hall"' in out, out
    assert re.search(r"try-admin .* \d{4}-\d\d-\d\d \d\d:\d\d \+08:00 .* valid", out), out
    assert "times in Asia/Shanghai (UTC+08:00)" in out
    assert "offsite hub stopped" in out
    assert (fresh / "var" / "pg").is_dir()


# Each command of the README's table that runs on its own, in order, on one fresh data folder.
COMMANDS = [
    (["token", "list"], 0, "times in Asia/Shanghai"),  # the first: no schema yet
    (
        ["config", "check", *sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").glob("*.yaml"))],
        0,
        ": ok",
    ),
    (["db", "upgrade"], 0, "schema is current"),
    (["db", "status"], 0, "schema current"),
    (["audit", "verify"], 0, "audit trail intact"),
    (["config", "export"], 1, ""),  # no deployment loaded yet: one line saying to run `up`
    (["user", "create", "duty-1", "--role", "operator", "--password", "a long passphrase"], 0, "user duty-1"),
    (["token", "revoke", "99"], 1, "no token 99"),
]


def test_the_readme_commands_on_a_fresh_data_folder(fresh: Path) -> None:
    for args, code, expected in COMMANDS:
        done = subprocess.run(
            [str(VENV / "bin" / "offsite"), *args],
            cwd=fresh,
            env=newcomer_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        said = f"offsite {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
        assert done.returncode == code, said
        assert expected in done.stdout + done.stderr, said
        assert not NOISE.search(done.stderr), said
        assert len(done.stderr.splitlines()) <= 1, said  # a note or an error: one line
