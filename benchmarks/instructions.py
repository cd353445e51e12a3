"""Instructions per login under callgrind: a count that a noisy machine does not blur.

``python -m benchmarks.instructions`` serves each site of ``benchmarks/sites.py``
under ``valgrind --tool=callgrind`` with instrumentation off, against the fake
WeChat over HTTPS (no added RTT), makes some warm-up logins, then counts the
instructions the site process executes for ``--logins`` more, switched on and
off around them with ``callgrind_control``. CPU time varies by several percent
from run to run on a shared VM; instruction counts by well under one.
Needs Valgrind (Debian: ``valgrind``); not part of ``make bench`` or the tests.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from .login import SITES, Browser
from .rig import Site, fake_wechat


def _switch(site: Site, state: str) -> None:
    subprocess.run(
        ["callgrind_control", f"--instr={state}", str(site.process.pid)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _collected(log: Path) -> int:
    """The instructions counted while instrumentation was on, from Valgrind's log."""
    for line in log.read_text().splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"no instruction count in {log}")


def count(name: str, config: dict[str, str], ca: Path, logins: int, warmup: int) -> float:
    """Instructions of the site process per login, after ``warmup`` logins."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "valgrind.log"
        wrapper = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={tmp}/callgrind.out",
            f"--log-file={log}",
        ]
        site = Site(name, config, ca, wrapper=wrapper)
        browser = Browser(site, ca)
        try:
            for _ in range(warmup):
                browser.login()
            _switch(site, "on")
            for _ in range(logins):
                browser.login()
            _switch(site, "off")
        finally:
            browser.close()
            site.stop()
        return _collected(log) / logins


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    with fake_wechat() as (config, ca):
        counts = {name: count(name, config, ca, args.logins, args.warmup) for name in SITES}
    base = counts["baseline"]
    for name, value in counts.items():
        print(f"{name:>10}  {value / 1e6:8.2f} M instructions per login  {value / base:.3f}x base")


if __name__ == "__main__":
    main()
