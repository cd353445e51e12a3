"""The benchmarks' rig: the fake WeChat and each site in a process of their own.

The fake serves HTTPS with a CA made for the run; a site is served by
cheroot on a free loopback port (``benchmarks/sites.py``). One bare call to
the fake through the RTT proxy is the floor no login can beat.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import requests
import trustme

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Site:
    """One site process, served by cheroot on a free loopback port."""

    def __init__(
        self, name: str, settings: dict[str, str], ca: Path, wrapper: t.Sequence[str] = ()
    ) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BENCH_SETTINGS": json.dumps(settings), "REQUESTS_CA_BUNDLE": str(ca)}
        self.process = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "benchmarks.sites", name, str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"site {name} did not start")

    def cpu_seconds(self) -> tuple[float, float]:
        """CPU of the threads serving requests (while they served them), and of the process."""
        request, process = requests.get(f"{self.url}/_bench/cpu", timeout=5).json()
        return float(request), float(process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout:
            self.process.stdout.close()


def rig_call_seconds(api: str, ca: Path) -> float:
    """One bare call to the fake through the proxy on a warm connection.

    What the rig itself costs per call: the RTT, the proxy's thread
    wake-ups, the fake's own work and TLS records. Calls times this is the
    floor no site can beat on this rig.
    """
    with requests.Session() as session:
        session.verify, session.trust_env = str(ca), False
        url = f"{api}/sns/auth?access_token=bench&openid=bench"
        for _ in range(3):
            session.get(url)
        samples = []
        for _ in range(40):
            began = time.perf_counter()
            session.get(url)
            samples.append(time.perf_counter() - began)
    return statistics.median(samples)


@contextlib.contextmanager
def fake_wechat() -> t.Iterator[tuple[dict[str, str], Path]]:
    """The fake WeChat over HTTPS in a process of its own: its settings, its CA file."""
    with tempfile.TemporaryDirectory() as tmp:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca_file, cert_file = Path(tmp) / "ca.pem", Path(tmp) / "cert.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        fake = subprocess.Popen(
            [sys.executable, "-m", "flask_wechat_web.testing", "--certfile", str(cert_file)]
            + ["--domain", "127.0.0.1"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        try:
            assert fake.stdout is not None
            yield json.loads(fake.stdout.readline()), ca_file
        finally:
            fake.terminate()
            fake.wait(10)
            if fake.stdout:
                fake.stdout.close()
