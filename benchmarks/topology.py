"""Many hosts, one login: the example site on three app hosts behind nginx.

The topology, all on loopback addresses of its own (Linux routes all of
127.0.0.0/8 to loopback): the example under gunicorn (2 workers) on
127.0.0.11, .12 and .13; Debian's nginx on 127.0.0.10 balancing them round
robin; sessions in Redis (Flask-Session), users and tokens in PostgreSQL;
the fake WeChat on 127.0.0.20 over TLS, its API reached through
:class:`~benchmarks.rtt_proxy.RTTProxy` at RTT 30 ms. :func:`load` drives
logins from many clients, each with its own cookie jar, and tells every
response by host and cause.

Used by ``tests/e2e/test_topology.py`` (the load and fault runs) and by
``make bench`` (:func:`measure`, one row beside the single-site runs).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import psycopg
import redis
import requests
import trustme

from .rtt_proxy import RTTProxy

ROOT = Path(__file__).resolve().parents[1]
BALANCER = "127.0.0.10"
HOSTS = ("127.0.0.11", "127.0.0.12", "127.0.0.13")
FAKE = "127.0.0.20"
RTT = 0.030
WORKERS = 2
THREADS = 4
#: Debian's nginx.
NGINX = "/usr/sbin/nginx"
#: Seconds nginx leaves out a host after it failed a request.
FAIL_TIMEOUT = 3
#: The request header naming a request's login and step, written to every access log.
LOAD_HEADER = "X-Load"
#: The request header pinning a request to one host, by its address's last number.
UPSTREAM_HEADER = "X-Upstream"

#: Where nginx sends a request, and what it retries. The callback is a GET, so
#: nginx counts it idempotent, but it is not at WeChat: its code is single use.
#: ``X-Upstream`` is the load test's hook to send a step to a host of its choice.
NGINX_CONF = """\
daemon off;
user root;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format load '$http_x_load|$status|$upstream_addr';
    access_log {base}/access.log load;
    client_body_temp_path {base}/tmp/body;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;

    upstream example {{
        # Round robin (nginx's default). A host that failed is left out a while.
{servers}
    }}
    # One upstream per host, for requests pinned to it by the load test's
    # X-Upstream header (the last number of the host's address). A request
    # without the header, or with any other value, goes to the round robin.
{pinned}
    map $http_x_upstream $app_upstream {{
        default example;
{choices}
    }}
    server {{
        listen {listen};
        location / {{
            # A variable naming an upstream block: no DNS lookup, nginx takes the block.
            proxy_pass http://$app_upstream;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            # Retries, chosen for the callback: a request goes to the next host
            # once, and only when its host failed before sending a response
            # header (refused, reset, died). Never after a timeout (connect
            # timeouts too: nginx does not tell them apart): the slow host may
            # still be redeeming the code, and a second redemption gets 40163.
            # A GET cut off that way is re-sent, the callback included: the
            # next host finds the login already done (the dead host saved the
            # session: same redirect), or still pending and redeems the code
            # itself, or gets 40163 from WeChat (the dead host had redeemed it)
            # and answers the extension's clean "log in again" page; or, when
            # the dead host had finished the login and renewed the session
            # id in Redis, finds the old id gone and answers the same clean
            # page (the state is no longer in this browser's session). A POST
            # (logout) that reached a host is never re-sent.
            proxy_next_upstream error;
            proxy_next_upstream_tries 2;
        }}
        # nginx's own 502/504 (no host could answer): a plain "try again" page.
        error_page 502 504 /_unavailable.html;
        location = /_unavailable.html {{
            internal;
            root {base};
        }}
    }}
}}
"""
UNAVAILABLE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Please try again</title>"
    "<h1>Please try again in a moment</h1><p>The site did not answer this request "
    "(load balancer). Reload the page.</p>\n"
)
#: What a 5xx or a failed page says about its cause, by a phrase of its body
#: (the clients ask for English; the login's pages name the error's class).
CAUSES = {
    "(load balancer)": "nginx: no host answered",
    "StorageUnavailableError</strong>": "database down: the login's 503 page",
    "cannot reach its database": "database down: the site's 503 page",
    "StateMismatchError</strong>": "state lost: the login's 400 page",
    "InvalidCodeError</strong>": "code spent: the login's 400 page",
}
_CLOCK_TICK = os.sysconf("SC_CLK_TCK")
_CONSENT_FORM = re.compile(r'<form method="post" action="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


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


class Nginx(Service):
    def __init__(self, base: Path, hosts: t.Sequence[AppHost]) -> None:
        port = free_port(BALANCER)
        (base / "tmp").mkdir(parents=True, exist_ok=True)
        (base / "_unavailable.html").write_text(UNAVAILABLE_PAGE)
        servers = "\n".join(
            f"        server {host.address}:{host.port} max_fails=1 fail_timeout={FAIL_TIMEOUT}s;"
            for host in hosts
        )
        pinned = "\n".join(
            f"    upstream host{host.number} {{ server {host.address}:{host.port}; }}"
            for host in hosts
        )
        choices = "\n".join(f"        {host.number} host{host.number};" for host in hosts)
        conf = base / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                base=base,
                servers=servers,
                pinned=pinned,
                choices=choices,
                listen=f"{BALANCER}:{port}",
            )
        )
        argv = [NGINX, "-p", base, "-e", base / "error.log", "-c", conf]
        super().__init__(argv, BALANCER, port, base / "nginx.log")
        self.url = f"http://{BALANCER}:{port}"
        self.access_log = base / "access.log"


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
        }
        init_db = [sys.executable, "-m", "flask", "--app", "example", "init-db"]
        subprocess.run(
            init_db, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True
        )
        self.hosts = [AppHost(address, self.base, env) for address in HOSTS]
        for host in self.hosts:
            self._service(host)
        self.nginx = Nginx(self.base / "nginx", self.hosts)
        self._service(self.nginx)
        self.url = self.nginx.url

    def _fake_over_tls(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", FAKE, "localhost")
        self.ca, cert_file = self.base / "ca.pem", self.base / "cert.pem"
        ca.cert_pem.write_to_path(str(self.ca))
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        argv = [sys.executable, "-m", "flask_wechat_web.testing", "--host", FAKE]
        argv += ["--certfile", str(cert_file), "--threads", "64", "--domain", BALANCER]
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


@dataclass
class Load:
    """What the clients saw, and when."""

    responses: Counter[int] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    failed_steps: Counter[str] = field(default_factory=Counter)
    #: The ``X-Load`` of each request that ended a failed attempt.
    failed_requests: list[str] = field(default_factory=list)
    completed: int = 0
    failed_attempts: int = 0
    sessions_lost: int = 0
    callback_seconds: list[float] = field(default_factory=list)
    completed_at: list[float] = field(default_factory=list)
    final_api_ok: int = 0
    #: Each completed pinned login's id, and the hosts of its start, callback and next page.
    pinned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clients: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(self.responses.values()) + self.causes["cut off (no response)"]


class Failed(Exception):
    """A login attempt that did not complete at the request ``load_id`` (its ``X-Load``)."""

    def __init__(self, load_id: str) -> None:
        super().__init__(load_id)
        self.load_id = load_id
        self.step = load_id.rsplit(".", 1)[-1]


def cause_of(response: requests.Response) -> str:
    for phrase, cause in CAUSES.items():
        if phrase in response.text:
            return cause
    return f"HTTP {response.status_code} from {response.url}"


class Client:
    """One browser with its own cookie jar, logging in as its own WeChat user."""

    def __init__(
        self, topology: Topology, run: str, index: int, load: Load, pin_every: int = 0
    ) -> None:
        self.site, self.key, self.load = topology.url, f"{run}{index}", load
        self.hosts, self.index, self.pin_every = topology.hosts, index, pin_every
        self.browser = requests.Session()
        self.browser.trust_env = False
        self.browser.verify = str(topology.ca)
        self.browser.headers["Accept-Language"] = "en"
        self.browser.cookies.set("fake_wechat_user", self.key, domain=FAKE)
        self.name = f"用户 {self.key}"
        self.logged_in = False  # by a completed login, and no logout sent since

    def get(
        self, step: str, url: str, host: AppHost | None = None, **kwargs: t.Any
    ) -> requests.Response:
        return self.request("GET", step, url, host, **kwargs)

    def request(
        self, method: str, step: str, url: str, host: AppHost | None = None, **kwargs: t.Any
    ) -> requests.Response:
        """One request; ``host``: the app host nginx must send it to (else round robin)."""
        headers = {LOAD_HEADER: step}
        if host is not None:
            headers[UPSTREAM_HEADER] = host.number
        try:
            response = self.browser.request(
                method,
                url,
                headers=headers,
                allow_redirects=False,
                timeout=30,
                **kwargs,
            )
            response.content  # noqa: B018 - read it all: a body cut short fails here
        except requests.RequestException as error:
            with self.load.lock:
                self.load.causes["cut off (no response)"] += 1
            raise Failed(step) from error
        with self.load.lock:
            self.load.responses[response.status_code] += 1
            if response.status_code >= 500:
                self.load.causes[cause_of(response)] += 1
        return response

    def route(self, n: int) -> tuple[AppHost, ...] | None:
        """The hosts login ``n``'s start, callback and next page are pinned to, if it is.

        Three different hosts, in an order that rotates from login to login
        and client to client, so each host takes each step equally often.
        """
        if not self.pin_every or n % self.pin_every:
            return None
        first = self.index + n // self.pin_every
        return tuple(self.hosts[(first + i) % len(self.hosts)] for i in range(3))

    def login(self, n: int, attempt: int, check: bool) -> None:
        step = f"{self.key}.{n}.{attempt}"
        route = self.route(n)
        start_on, callback_on, next_on = route or (None, None, None)
        if check:  # still logged in from the login before?
            page = self.get(f"{step}.check", f"{self.site}/account")
            if not self.asked_to_log_in(page) and page.status_code != 200:
                raise Failed(f"{step}.check")
            self.logged_in = False  # a logout cut off on its way back may have happened
            logout = self.request("POST", f"{step}.logout", f"{self.site}/wechat/logout")
            if logout.status_code != 302:
                raise Failed(f"{step}.logout")
        start = self.get(f"{step}.start", f"{self.site}/wechat/login?next=/account", start_on)
        if start.status_code != 302:
            raise Failed(f"{step}.start")
        consent = self.get(f"{step}.fake", start.headers["Location"])
        authorize = self.approve(f"{step}.approve", consent)
        if authorize.status_code != 302:
            raise Failed(f"{step}.approve")
        began = time.perf_counter()
        callback = self.get(f"{step}.callback", authorize.headers["Location"], callback_on)
        elapsed = time.perf_counter() - began
        if callback.status_code != 302 or callback.headers["Location"] != "/account":
            if callback.status_code < 500:  # a 5xx is counted already
                with self.load.lock:
                    self.load.causes[cause_of(callback)] += 1
            raise Failed(f"{step}.callback")
        self.logged_in = True
        account = self.get(f"{step}.next", f"{self.site}/account", next_on)
        if self.asked_to_log_in(account) or self.name not in account.text:
            raise Failed(f"{step}.next")
        with self.load.lock:
            self.load.completed += 1
            self.load.callback_seconds.append(elapsed)
            self.load.completed_at.append(time.monotonic())
            if route is not None:
                self.load.pinned[step] = tuple(host.address for host in route)

    def approve(self, step: str, consent: requests.Response) -> requests.Response:
        """Press "log in as" on the fake WeChat's consent page, as its user."""
        form = _CONSENT_FORM.search(consent.text)
        if consent.status_code != 200 or form is None:
            raise Failed(step)
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(consent.text)}
        action = urljoin(consent.url, html.unescape(form.group(1)))
        return self.request("POST", step, action, data={**fields, "user": self.key})

    def asked_to_log_in(self, page: requests.Response) -> bool:
        """Whether ``page`` sends to the login; counted as a lost session if logged in."""
        asked = page.status_code == 302 and "/wechat/login" in page.headers["Location"]
        if asked and self.logged_in:
            self.logged_in = False
            with self.load.lock:
                self.load.sessions_lost += 1
        return asked

    def run(self, logins: int, max_attempts: int, think: float) -> None:
        with self.browser:
            for n in range(logins):
                for attempt in range(max_attempts):
                    try:
                        self.login(n, attempt, check=n > 0 or attempt > 0)
                        time.sleep(think)  # reading the page, logged in
                        break
                    except Failed as failure:
                        with self.load.lock:
                            self.load.failed_attempts += 1
                            self.load.failed_steps[failure.step] += 1
                            self.load.failed_requests.append(failure.load_id)
                        time.sleep(0.2)
                else:
                    raise RuntimeError(f"client {self.key}: login {n} failed {max_attempts} times")
            api = self.get(f"{self.key}.api.0.api", f"{self.site}/api/wechat-profile")
            if api.status_code == 200 and api.json().get("nickname") == self.name:
                with self.load.lock:
                    self.load.final_api_ok += 1


def load(
    topology: Topology,
    *,
    clients: int,
    logins_per_client: int,
    run: str,
    fault: t.Callable[[], None] | None = None,
    fault_after: int = 0,
    max_attempts: int = 50,
    think: float = 0.0,
    pin_every: int = 0,
) -> Load:
    """``clients`` browsers at once, each logging in ``logins_per_client`` times.

    ``fault`` runs once ``fault_after`` logins have completed, while the
    clients go on. A failed attempt is tried again from the start after
    0.2 s. ``think``: seconds a client stays on the page after a login.
    ``pin_every``: every so many logins of a client (the first, then every
    ``pin_every``-th), its start, callback and next page are sent to three
    different hosts (``X-Upstream``); the other requests go round robin.
    """
    result = Load(clients=clients)
    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        futures = [
            pool.submit(
                Client(topology, run, i, result, pin_every).run,
                logins_per_client,
                max_attempts,
                think,
            )
            for i in range(clients)
        ]
        if fault is not None:
            while result.completed < fault_after and not all(f.done() for f in futures):
                time.sleep(0.01)
            fault()
        for future in futures:
            future.result()
    result.seconds = time.monotonic() - began
    return result


def hops(topology: Topology, pinned: dict[str, tuple[str, ...]]) -> dict[str, t.Any]:
    """From the hosts' access logs: where each login's steps landed.

    ``pinned``: the hosts each pinned login was sent to; counted when the
    logs show all three steps there.
    """
    where: dict[str, dict[str, str]] = {}
    per_host = {}
    for host in topology.hosts:
        steps = host.steps()
        per_host[host.address] = len(steps)
        for step in steps:
            login, _, name = step.rpartition(".")
            where.setdefault(login, {})[name] = host.address
    logins = [w for w in where.values() if {"start", "callback", "next"} <= w.keys()]
    three = sum(len({w["start"], w["callback"], w["next"]}) == 3 for w in logins)
    moved = sum(w["start"] != w["callback"] != w["next"] for w in logins)
    steps = ("start", "callback", "next")
    landed = sum(
        tuple(where.get(login, {}).get(step) for step in steps) == hosts
        for login, hosts in pinned.items()
    )
    return {
        "logins_logged": len(logins),
        "all_three_on_different_hosts": three,
        "each_step_on_another_host": moved,
        "pinned_logins": len(pinned),
        "pinned_logins_on_their_hosts": landed,
        "requests_per_host": per_host,
    }


def lb_log(topology: Topology) -> list[tuple[str, int, str]]:
    """nginx's access log: (``X-Load``, status, the upstream addresses it tried)."""
    lines = []
    for line in topology.nginx.access_log.read_text().splitlines():
        step, status, upstreams = line.split("|")
        lines.append((step, int(status), upstreams))
    return lines


def figures(
    name: str, result: Load, topology: Topology, *, sessions_may_go: bool = False
) -> dict[str, t.Any]:
    """The run's report: what the clients saw, what the logs and the database hold."""
    two_rtt = 2 * RTT
    latencies = sorted(result.callback_seconds)
    rows = topology.rows()
    report = {
        "run": name,
        "clients": result.clients,
        "seconds": round(result.seconds, 2),
        "requests": result.requests,
        "responses_by_status": dict(sorted(result.responses.items())),
        "5xx_and_failed_callbacks_by_cause": dict(result.causes),
        "failed_attempts_by_step": dict(result.failed_steps),
        "logins_completed": result.completed,
        "logins_per_second": round(result.completed / result.seconds, 1),
        "callback_p50_x_2rtt": round(statistics.median(latencies) / two_rtt, 2),
        "callback_p99_x_2rtt": round(latencies[int(0.99 * (len(latencies) - 1))] / two_rtt, 2),
        "sessions_lost_asked_to_log_in_again": result.sessions_lost,
        "final_api_calls_ok": result.final_api_ok,
        **{key: value for key, value in rows.items() if key != "tokens"},
        "stored_tokens_usable": sum(topology.token_works(*token) for token in rows["tokens"]),
        **hops(topology, result.pinned),
    }
    # A completed login is lost when its user has no token row, its client's
    # last login no longer works for an API call, or its session was gone at
    # the next visit, unless the run lets Redis lose sessions by design:
    # those users were asked to log in again, and are counted apart.
    report["logins_lost"] = (
        result.clients
        - min(rows["token_rows"], result.final_api_ok)
        + (0 if sessions_may_go else result.sessions_lost)
    )
    return report


def cpu_per_login(topology: Topology, result: Load, before: list[float]) -> dict[str, float]:
    """Milliseconds of CPU each host spent per login of the run."""
    return {
        host.address: round((host.cpu_seconds() - cpu) / result.completed * 1000, 2)
        for host, cpu in zip(topology.hosts, before, strict=True)
    }


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


def format_row(row: dict[str, t.Any]) -> str:
    """The row: each host's CPU is per login of the whole run (they add up to the site's)."""
    per_host = row["cpu_ms_per_login_per_host"]
    cpu = ", ".join(f"{host} {ms:.2f}" for host, ms in per_host.items())
    return (
        f"three hosts (nginx, Redis sessions, PostgreSQL), RTT {RTT * 1000:.0f} ms, "
        f"{row['clients']} clients: {row['logins_per_s']:.1f} login/s, "
        f"p50 {row['p50_ms']:.1f} ms ({row['p50_x_2rtt']:.2f}x 2RTT), "
        f"p99 {row['p99_ms']:.1f} ms ({row['p99_x_2rtt']:.2f}x 2RTT); "
        f"CPU ms per login: {cpu}; all hosts {sum(per_host.values()):.2f}"
    )


def report() -> str:
    """Run :func:`measure`, write ``benchmarks/results/topology.json``, return the row."""
    row = measure()
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "topology.json").write_text(json.dumps(row, indent=2))
    return format_row(row)


if __name__ == "__main__":
    print(report())
