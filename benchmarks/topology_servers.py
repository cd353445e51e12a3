"""The servers of the three-host run, and where each listens.

Each server runs in a process group of its own (:class:`Service`), so that
stopping or killing one (the fault runs do) takes its workers with it, and
its CPU can be read from ``/proc``: PostgreSQL and Redis on 127.0.0.1, the
example site under gunicorn on each app host. nginx, which balances the
hosts, is in ``benchmarks/topology_nginx.py``; ``benchmarks/topology.py``
starts them all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
# Where each part listens (nginx, the app hosts, the fake WeChat), and its API's RTT.
BALANCER = "127.0.0.10"
HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
FAKE = "127.0.0.20"
RTT = 0.030
WORKERS = 2
#: Threads per worker. The follow sign-in's waiting pages each hold a request
#: up to 10 s (a long poll): 50 pages pinned to one host need 25 per worker,
#: and a worker may accept more than its half, so there is room to spare.
THREADS = 48
#: The request header naming a request's login and step, written to every access log.
LOAD_HEADER = "X-Load"
_CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def wait_for_port(address: str, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"nothing listens on {address}:{port} after 30 s:\n{log.read_text()[-3000:]}"
    )


class Service:
    """A server in a process group of its own, so a kill takes its workers with it."""

    def __init__(
        self,
        argv: list[t.Any],
        address: str,
        port: int,
        log: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
    ) -> None:
        self.argv, self.address, self.port, self.log = argv, address, port, log
        self.env = {**os.environ, **(env or {})}
        self.user = user
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
            )
        wait_for_port(self.address, self.port, self.process, self.log)

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the whole process group and wait for its leader."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        self.signal(signal.SIGTERM)

    def cpu_seconds(self) -> float:
        """User + system CPU of the group's processes, and of its reaped children."""
        if self.process is None:
            return 0.0
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # its process group
                total += int(fields[11]) + int(fields[12])
                if int(stat.parent.name) == self.process.pid:
                    total += int(fields[13]) + int(fields[14])
        return total / _CLOCK_TICK


class Postgres(Service):
    """A PostgreSQL cluster of its own (the fault run stops and starts it)."""

    def __init__(self) -> None:
        bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))[-1].parent
        user = "postgres" if os.geteuid() == 0 else None  # it refuses to run as root
        # A folder of its own in /tmp: the postgres user cannot enter pytest's.
        self.base = base = Path(tempfile.mkdtemp(prefix="wechat-web-topology-pg-"))
        data = base / "pgdata"
        if user:
            shutil.chown(base, user)
        initdb = [bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"]
        subprocess.run(initdb, check=True, capture_output=True, user=user)
        port = free_port("127.0.0.1")
        argv = [bindir / "postgres", "-D", data, "-p", str(port), "-k", base]
        argv += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
        super().__init__(argv, "127.0.0.1", port, base / "postgres.log", user=user)
        self.server = f"postgresql://postgres@127.0.0.1:{port}"

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 30
        while True:  # listening is not yet accepting: "the database system is starting up"
            try:
                psycopg.connect(f"{self.server}/postgres").close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.signal(signal.SIGINT)  # fast shutdown: sessions cut, nothing half-written


class Redis(Service):
    """Redis for the sessions; ``persistent``: an append-only file survives a restart."""

    def __init__(self, base: Path, *, persistent: bool) -> None:
        port = free_port("127.0.0.1")
        base.mkdir(exist_ok=True)
        self.persistent = persistent
        self.common = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", base]
        self.common += ["--save", "", "--daemonize", "no", "--protected-mode", "no"]
        super().__init__(self.common, "127.0.0.1", port, base / "redis.log")
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.argv = [*self.common, "--appendonly", "yes" if self.persistent else "no"]
        super().start()


class AppHost(Service):
    """The example site under gunicorn on one address; its access log tells the load apart."""

    def __init__(self, address: str, base: Path, env: dict[str, str]) -> None:
        port = free_port(address)
        self.number = address.rsplit(".", 1)[-1]  # what X-Upstream names it by
        self.access_log = base / f"access-{address}.log"
        argv = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS)]
        argv += ["--worker-class", "gthread", "--threads", str(THREADS)]
        argv += ["--bind", f"{address}:{port}", "--graceful-timeout", "5"]
        argv += ["--access-logfile", str(self.access_log)]
        argv += ["--access-logformat", f"%({{{LOAD_HEADER.lower()}}}i)s %(s)s %(M)s"]
        argv += ["example:create_app()"]
        super().__init__(argv, address, port, base / f"gunicorn-{address}.log", env)

    def steps(self) -> list[str]:
        """The ``X-Load`` header of every request this host answered."""
        if not self.access_log.exists():
            return []
        return [line.split(" ", 1)[0] for line in self.access_log.read_text().splitlines()]
