from __future__ import annotations

import atexit
import contextlib
import functools
import html
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import redis
import requests
from flask import Flask, flash, get_flashed_messages
from flask.ctx import _cv_app
from flask.testing import FlaskClient
from flask_login import current_user, login_required
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import TestResponse

from flask_wechat_web import (
    WeChatWeb,
    wechat_authorized,
    wechat_logged_out,
    wechat_login_failed,
)
from flask_wechat_web.testing import FakeWeChat

MICROMESSENGER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) "
    "NetType/WIFI Language/zh_CN"
)


def make_app(fake: FakeWeChat, **config: t.Any) -> tuple[Flask, WeChatWeb]:
    """A small site using the extension, pointed at ``fake``."""
    # An instance folder of its own: the default WECHAT_WEB_STORE lives there.
    instance = tempfile.mkdtemp(prefix="wechat-web-instance-")
    atexit.register(shutil.rmtree, instance, True)
    app = Flask(__name__, instance_path=instance)
    app.config.update(TESTING=True, SECRET_KEY="a test secret key", **fake.config())
    app.config.update(config)
    wechat = WeChatWeb(app)
    fake.configure(app)

    @app.route("/")
    def index() -> str:
        name = current_user.nickname if current_user.is_authenticated else "stranger"
        return f"hello {name}"

    @app.route("/private")
    @login_required
    def private() -> str:
        return f"private for {current_user.get_id()}"

    @app.route("/oops")
    def oops() -> str:
        return "|".join(get_flashed_messages())

    @app.route("/flash")
    def flash_something() -> str:
        flash("hi")
        return "ok"

    return app, wechat


@pytest.fixture
def app_and_wechat(fake_wechat: FakeWeChat) -> tuple[Flask, WeChatWeb]:
    return make_app(fake_wechat)


@pytest.fixture
def app(app_and_wechat: tuple[Flask, WeChatWeb]) -> Flask:
    return app_and_wechat[0]


@pytest.fixture
def wechat(app_and_wechat: tuple[Flask, WeChatWeb]) -> WeChatWeb:
    return app_and_wechat[1]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def start_login(client: FlaskClient, **query: str) -> str:
    """GET the login route; the authorize URL it redirects to."""
    headers = {}
    if "ua" in query:
        headers["User-Agent"] = query.pop("ua")
    response = client.get("/wechat/login", query_string=query, headers=headers)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.location


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def log_in(client: FlaskClient, fake: FakeWeChat, **query: str) -> tuple[TestResponse, str]:
    """A whole login through ``fake``: the callback's response and its URL."""
    callback = callback_path(fake.approve(start_login(client, **query)))
    return client.get(callback), callback


def consent_form(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the fake WeChat's consent form."""
    form = re.search(r'<form method="post" action="([^"]+)"', page)
    assert form is not None, page[:500]
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)
    return html.unescape(form.group(1)), {name: html.unescape(value) for name, value in fields}


def submit_consent(
    browser: requests.Session, page: requests.Response, **choice: str
) -> requests.Response:
    """Press a button of the fake WeChat's page (``user=KEY`` or ``deny="1"``), unfollowed."""
    action, fields = consent_form(page.text)
    return browser.post(
        urljoin(page.url, action), data={**fields, **choice}, allow_redirects=False, timeout=10
    )


def stored_token(client: FlaskClient) -> dict[str, t.Any]:
    """The token the storage keeps for the client's session."""
    app = client.application
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    headers = {"Cookie": f"{cookie.key}={cookie.value}"}
    with app.test_request_context(headers=headers):
        token = app.extensions["wechat_web"].extension.storage.get()
    assert token is not None
    return t.cast(dict[str, t.Any], token)


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query, keep_blank_values=True)


class SignalRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, t.Any, dict[str, t.Any]]] = []

    def named(self, name: str) -> list[dict[str, t.Any]]:
        return [kwargs for event, _, kwargs in self.events if event == name]


@pytest.fixture
def signals(app: Flask) -> t.Iterator[SignalRecorder]:
    recorder = SignalRecorder()

    def recording(name: str) -> t.Callable[..., None]:
        def receive(sender: t.Any, **kwargs: t.Any) -> None:
            recorder.events.append((name, sender, kwargs))

        return receive

    receivers = {
        wechat_authorized: recording("authorized"),
        wechat_login_failed: recording("failed"),
        wechat_logged_out: recording("logged_out"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver, app)
    yield recorder
    for signal, receiver in receivers.items():
        signal.disconnect(receiver, app)


@pytest.fixture(autouse=True)
def leak_detector() -> t.Iterator[None]:
    """Fail a test that leaves an app context pushed."""
    yield
    leaked = []
    while _cv_app.get(None) is not None:
        leaked.append(_cv_app.get())
        _cv_app.get().pop()
    assert not leaked, "a test left an app context pushed"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test fails the run: it is a missing install step."""
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"CI: {len(skipped)} skipped test(s) count as failures", red=True)


def _postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `./run.sh test` (it installs it)")
    return found[-1].parent


@pytest.fixture(scope="session")
def postgres_url() -> t.Iterator[str]:
    """A real PostgreSQL server on a free loopback port, for this test session."""
    import psycopg

    bindir = _postgres_bindir()
    base = Path(tempfile.mkdtemp(prefix="wechat-web-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(
        [*as_postgres, bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"]
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_postgres, bindir / "pg_ctl", "-D", data, "-l", base / "server.log"]
    run([*pg_ctl, "-o", options, "-w", "-t", "30", "start"])
    try:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE wechat_web")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/wechat_web"
    finally:
        run([*pg_ctl, "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: Seconds a Redis server of the tests' own may take to start.
_REDIS_START_DEADLINE = 20.0


@contextlib.contextmanager
def redis_server() -> t.Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis server of its own on a free loopback port, in a temp dir: its URL and process.

    Stopped on the way out, also when a test stopped it already.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `./run.sh test` (it installs it)")
    base = Path(tempfile.mkdtemp(prefix="wechat-web-redis-"))
    port = free_port()
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(base)]
    argv += ["--save", "", "--appendonly", "no", "--logfile", str(base / "redis.log")]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + _REDIS_START_DEADLINE
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = base / "redis.log"
                    raise RuntimeError(
                        f"redis-server did not start:\n{log.read_text() if log.exists() else ''}"
                    ) from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        shutil.rmtree(base, ignore_errors=True)


class Served:
    """A Flask app under a real threaded HTTP server on a loopback address."""

    def __init__(self, app: Flask, host: str = "127.0.0.1") -> None:
        self.server: BaseWSGIServer = make_server(host, 0, app, threaded=True)
        self.netloc = f"{host}:{self.server.port}"
        #: Where WeChat pushes to it (``/wechat/mp/push``).
        self.push_url = f"http://{self.netloc}/wechat/mp/push"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)
