"""The command line run as a user runs it: its own process, the given environment and folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def offsite(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`offsite ARGS...` in `cwd` with exactly `env`; its exit code and output, within a minute."""
    return subprocess.run(
        [sys.executable, "-m", "offsite.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
