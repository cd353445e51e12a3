"""What loading the pytest plugin costs a test run, beyond pytest, Flask and Flask-Login.

``python -m benchmarks.plugin_import [--runs 7]`` starts a fresh interpreter
per run that imports pytest, Flask and Flask-Login, then the plugin, under
``python -X importtime``, and adds up the cumulative times of the modules
the plugin's import brings in (the top-level entries after a marker). It
prints each run and the median, in milliseconds, and which of those modules
took the most.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

MARKER = "-- plugin --"
CODE = (
    "import sys, pytest, flask, flask_login\n"
    f"sys.stderr.write({MARKER!r} + '\\n')\n"
    "import flask_wechat_web.testing.pytest_plugin\n"
)


def importtime() -> list[tuple[str, int, int]]:
    """``(module, self µs, cumulative µs)`` of what the plugin's import loads, in order."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", CODE],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in run.stderr.partition(MARKER + "\n")[2].splitlines():
        if line.startswith("import time:") and "|" in line:
            own, cumulative, name = line.removeprefix("import time:").split("|")
            rows.append((name.rstrip(), int(own), int(cumulative)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters (default 7)")
    runs = parser.parse_args().runs
    totals = []
    for _ in range(runs):
        rows = importtime()
        # Top-level entries (one space before the name) hold their imports' time.
        totals.append(sum(cum for name, _, cum in rows if not name.startswith("  ")) / 1000)
    print("runs (ms):", " ".join(f"{total:.1f}" for total in totals))
    print(f"median: {statistics.median(totals):.1f} ms over {runs} runs")
    print("heaviest modules (self time, last run):")
    for name, own, _ in sorted(rows, key=lambda row: -row[1])[:8]:
        print(f"  {own / 1000:6.2f} ms  {name.strip()}")


if __name__ == "__main__":
    main()
