"""The benchmark's command line says what it lacks in one line, before any work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_bench_names_a_missing_server_in_one_line(tmp_path: Path) -> None:
    # No redis-server on this PATH: the three-host run could not start it.
    env = {**os.environ, "PATH": str(tmp_path)}
    command = [sys.executable, "-m", "benchmarks.login", "--logins", "1"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: missing ") and "redis-server" in line
    assert line.endswith("./run.sh bench installs them")
    assert result.stdout == ""  # not the single-site table first
