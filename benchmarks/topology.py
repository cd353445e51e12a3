"""Many hosts, one login: the example site on three app hosts behind nginx.

The topology, all on loopback addresses of its own (Linux routes all of
127.0.0.0/8 to loopback): the example under gunicorn (2 workers) on
127.0.0.11, .12 and .13; Debian's nginx on 127.0.0.10 balancing them round
robin; sessions in Redis (Flask-Session), users and tokens in PostgreSQL;
the fake WeChat on 127.0.0.20 over TLS, its API reached through
:class:`~benchmarks.rtt_proxy.RTTProxy` at RTT 30 ms. :class:`Topology`
wires them up; the servers are in ``topology_servers.py`` and
``topology_nginx.py``, the load client (:func:`~benchmarks.topology_load.load`:
logins from many clients, each with its own cookie jar, every response told
by host and cause) in ``topology_load.py``, the figures in
``topology_figures.py``.

Used by ``tests/e2e/test_topology.py`` (the load and fault runs) and by
``make bench`` (:func:`measure`, one row beside the single-site runs).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
import requests
import trustme

from flask_wechat_web.testing.push import PUSH_AES_KEY, PUSH_TOKEN

from .rtt_proxy import RTTProxy
from .topology_figures import cpu_per_login, figures, format_row
from .topology_load import load
from .topology_nginx import BALANCER, NGINX, Nginx
from .topology_servers import (
    FAKE,
    HOSTS,
    ROOT,
    RTT,
    AppHost,
    Postgres,
    Redis,
    Service,
    free_port,
)


def missing_servers() -> list[str]:
    """The Debian packages of the servers this run starts that are not installed."""
    missing = []
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        missing.append("postgresql")
    if not Path(NGINX).is_file():
        missing.append("nginx")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    return missing


class Topology:
    """Every part, started in order, stopped in reverse even when a start fails."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Topology:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _service(self, service: Service) -> None:
        self._stack.callback(service.stop)  # also when it fails to come up
        service.start()

    def _start(self) -> None:
        # nginx's port first: the Official Account's web authorization domain names it.
        self.balancer_port = free_port(BALANCER)
        self._fake_over_tls()
        self.postgres = Postgres()
        self._stack.callback(shutil.rmtree, self.postgres.base, ignore_errors=True)
        self._service(self.postgres)
        self.database = f"{self.postgres.server}/example"
        with psycopg.connect(f"{self.postgres.server}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE example")
        self.redis = Redis(self.base / "redis", persistent=False)
        self._service(self.redis)
        env = {
            **self.fake_config,
            "DATABASE_URL": self.database,
            "REDIS_URL": self.redis.url,
            "SECRET_KEY": "topology test secret",
            "REQUESTS_CA_BUNDLE": str(self.ca),
            # The follow sign-in, its push in safe mode with the fake account's console settings.
            "WECHAT_WEB_FOLLOW_LOGIN": "true",
            "WECHAT_WEB_CODE_LOGIN": "true",
            "WECHAT_WEB_MP_TOKEN": PUSH_TOKEN,
            "WECHAT_WEB_MP_AES_KEY": PUSH_AES_KEY,
        }
        init_db = [sys.executable, "-m", "flask", "--app", "example", "init-db"]
        subprocess.run(
            init_db, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True
        )
        self.hosts = [AppHost(address, self.base, env) for address in HOSTS]
        for host in self.hosts:
            self._service(host)
        self.nginx = Nginx(self.base / "nginx", self.hosts, self.balancer_port)
        self._service(self.nginx)
        self.url = self.nginx.url
        self.push_url = f"{self.url}/wechat/mp/push"

    def _fake_over_tls(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", FAKE, "localhost")
        self.ca, cert_file = self.base / "ca.pem", self.base / "cert.pem"
        ca.cert_pem.write_to_path(str(self.ca))
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        argv = [sys.executable, "-m", "flask_wechat_web.testing", "--host", FAKE]
        domain = f"{BALANCER}:{self.balancer_port}"
        argv += ["--certfile", str(cert_file), "--threads", "64", "--domain", domain]
        log = (self.base / "fake.log").open("wb")
        fake = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=log)
        self._stack.callback(log.close)
        self._stack.callback(fake.wait, 10)
        self._stack.callback(fake.terminate)
        assert fake.stdout is not None
        self._stack.callback(fake.stdout.close)
        config: dict[str, str] = json.loads(fake.stdout.readline())
        api = urlsplit(config["WECHAT_WEB_API_BASE_URL"])
        assert api.hostname is not None and api.port is not None
        self.proxy = RTTProxy((api.hostname, api.port), RTT)
        self._stack.callback(self.proxy.stop)
        self.fake_api = config["WECHAT_WEB_API_BASE_URL"]
        config["WECHAT_WEB_API_BASE_URL"] = f"https://127.0.0.1:{self.proxy.port}"
        self.fake_config = config

    def restart_redis(self, *, persistent: bool | None = None) -> None:
        """Stop Redis as its service manager would (SIGTERM) and start it again."""
        self.redis.stop()
        if persistent is not None:
            self.redis.persistent = persistent
        self.redis.start()

    def clear(self) -> None:
        """Empty the tables and the sessions, for the next run."""
        with psycopg.connect(self.database, autocommit=True) as conn:
            conn.execute('TRUNCATE we_chat_account, "user" RESTART IDENTITY')
        with redis.Redis.from_url(self.redis.url) as client:
            client.flushall()
        for host in self.hosts:
            host.access_log.write_text("")  # truncated: gunicorn appends to the same file
        self.nginx.access_log.write_text("")

    def rows(self) -> dict[str, t.Any]:
        """What the database holds: users, token rows, and orphans of either."""
        with psycopg.connect(self.database) as conn:

            def one(sql: str) -> t.Any:
                found = conn.execute(sql).fetchone()
                assert found is not None
                return found[0]

            return {
                "users": one('SELECT count(*) FROM "user"'),
                "distinct_nicknames": one('SELECT count(DISTINCT nickname) FROM "user"'),
                "token_rows": one("SELECT count(*) FROM we_chat_account"),
                "users_without_token_row": one(
                    'SELECT count(*) FROM "user" u WHERE NOT EXISTS '
                    "(SELECT 1 FROM we_chat_account a WHERE a.user_id = u.id)"
                ),
                "token_rows_without_user": one(
                    "SELECT count(*) FROM we_chat_account a WHERE NOT EXISTS "
                    '(SELECT 1 FROM "user" u WHERE u.id = a.user_id)'
                ),
                "tokens": conn.execute(
                    "SELECT access_token, openid FROM we_chat_account "
                    "WHERE access_token IS NOT NULL"
                ).fetchall(),
            }

    def token_works(self, access_token: str, openid: str) -> bool:
        """WeChat's ``sns/auth`` accepts a stored token (asked directly, not via the proxy)."""
        answer = requests.get(
            f"{self.fake_api}/sns/auth",
            params={"access_token": access_token, "openid": openid},
            verify=str(self.ca),
            timeout=10,
        )
        return bool(answer.json().get("errcode") == 0)


def measure(clients: int = 50, logins_per_client: int = 6) -> dict[str, t.Any]:
    """The three-host run for ``make bench``: logins/s, p99, CPU per login per host."""
    with tempfile.TemporaryDirectory() as tmp, Topology(Path(tmp)) as topology:
        load(topology, clients=clients, logins_per_client=1, run="warm")  # pools, caches
        topology.clear()
        before = [host.cpu_seconds() for host in topology.hosts]
        result = load(topology, clients=clients, logins_per_client=logins_per_client, run="b")
        cpu = cpu_per_login(topology, result, before)
        report = figures("three hosts", result, topology)
    latencies = sorted(result.callback_seconds)
    return {
        "logins": result.completed,
        "clients": clients,
        "logins_per_s": report["logins_per_second"],
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1000,
        "p50_x_2rtt": report["callback_p50_x_2rtt"],
        "p99_x_2rtt": report["callback_p99_x_2rtt"],
        "cpu_ms_per_login_per_host": cpu,
        "requests_per_host": report["requests_per_host"],
    }


def report() -> str:
    """Run :func:`measure`, write ``benchmarks/results/topology.json``, return the row."""
    row = measure()
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "topology.json").write_text(json.dumps(row, indent=2))
    return format_row(row)


if __name__ == "__main__":
    print(report())
