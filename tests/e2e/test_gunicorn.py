"""Many workers: the example under gunicorn, PostgreSQL storage, the fake apart.

20 clients, each its own cookie jar and its own WeChat user, log in 10 times
each: 200 logins through 4 worker processes. Then every client calls WeChat
through its stored token. A second run kills a worker in the middle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from ..conftest import submit_consent
from .conftest import ROOT, Server, free_port

pytestmark = pytest.mark.e2e

CLIENTS = 20
LOGINS_PER_CLIENT = 10
WORKERS = 4
REPORT = ROOT / "test-artifacts" / "gunicorn-runs.json"
#: How a request to a worker killed under it fails: before the response's
#: headers (ConnectionError) or in the middle of its body (ChunkedEncodingError,
#: which requests raises for any body cut short, chunked or not).
CUT_OFF = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


@pytest.fixture(scope="module")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[dict[str, str]]:
    """The fake WeChat in a process of its own, sending codes to 127.0.0.1."""
    log = (tmp_path_factory.mktemp("fake") / "fake.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask_wechat_web.testing",
            "--threads",
            "64",
            "--domain",
            "127.0.0.1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None
    config = json.loads(process.stdout.readline())
    yield config
    process.terminate()
    process.wait(10)
    process.stdout.close()
    log.close()


def new_database(postgres_url: str) -> str:
    name = f"example_{uuid.uuid4().hex[:8]}"
    server = postgres_url.rsplit("/", 1)[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


@pytest.fixture
def site(
    fake_server: dict[str, str], postgres_url: str, tmp_path: Path
) -> t.Iterator[tuple[Server, str]]:
    """The example under gunicorn with 4 workers, on a fresh PostgreSQL database."""
    database = new_database(postgres_url)
    env = {**fake_server, "DATABASE_URL": database, "SECRET_KEY": "gunicorn test secret"}
    flask = [sys.executable, "-m", "flask", "--app", "example", "init-db"]
    subprocess.run(flask, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True)
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS)]
    argv += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5", "example:create_app()"]
    server = Server(argv, env, port, tmp_path / "gunicorn.log")
    yield server, database
    server.stop()


@dataclass
class Run:
    logins: int = 0
    interrupted: int = 0
    statuses: list[int] = field(default_factory=list)
    api_statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
        with self.lock:
            self.statuses.append(response.status_code)


def client_logins(site: str, index: int, run: Run, halfway: threading.Event) -> None:
    """One browser: logs in and out again and again, as user ``client-<index>``."""
    with requests.Session() as browser:
        browser.cookies.set("fake_wechat_user", f"client-{index}", domain="127.0.0.1")
        browser.hooks["response"].append(run.record)
        done = 0
        while done < LOGINS_PER_CLIENT:
            try:
                browser.post(f"{site}/wechat/logout", timeout=30)
                qr_page = browser.get(f"{site}/wechat/login?next=/", timeout=30)
                approved = submit_consent(browser, qr_page, user=f"client-{index}")
                page = browser.get(approved.headers["Location"], timeout=30)
            except CUT_OFF:
                with run.lock:
                    run.interrupted += 1  # a killed worker's request, cut before or mid-answer
                continue
            assert page.url.startswith(f"{site}/"), page.url
            assert f"用户 client-{index}" in page.text, page.text[:500]
            done += 1
            with run.lock:
                run.logins += 1
                if run.logins == CLIENTS * LOGINS_PER_CLIENT // 2:
                    halfway.set()
        for _ in range(3):
            try:
                api = browser.get(f"{site}/api/wechat-profile", timeout=30)
                break
            except CUT_OFF:
                continue
        with run.lock:
            run.api_statuses.append(api.status_code)
        assert api.json()["nickname"] == f"用户 client-{index}"


def worker_pids(master: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            pids.append(int(stat.parent.name))
    return pids


def run_load(site: Server, kill_a_worker: bool) -> tuple[Run, float]:
    run, halfway = Run(), threading.Event()
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS + 1) as pool:
        futures = [pool.submit(client_logins, site.url, i, run, halfway) for i in range(CLIENTS)]
        if kill_a_worker:
            assert halfway.wait(120)
            os.kill(worker_pids(site.process.pid)[0], signal.SIGKILL)
        for future in futures:
            future.result()
    return run, time.monotonic() - started


def table_rows(database: str) -> tuple[int, int, int, int]:
    with psycopg.connect(database) as conn:
        users = conn.execute('SELECT count(*), count(DISTINCT nickname) FROM "user"').fetchone()
        accounts = conn.execute(
            "SELECT count(*), count(DISTINCT openid) FROM we_chat_account"
            " WHERE access_token IS NOT NULL"
        ).fetchone()
    assert users is not None and accounts is not None
    return users[0], users[1], accounts[0], accounts[1]


def report(name: str, run: Run, seconds: float, rows: tuple[int, int, int, int]) -> None:
    figures = {
        "logins": run.logins,
        "seconds": round(seconds, 2),
        "logins_per_second": round(run.logins / seconds, 1),
        "responses": len(run.statuses),
        "responses_5xx": sum(status >= 500 for status in run.statuses),
        "interrupted_requests": run.interrupted,
        "user_rows": rows[0],
        "token_rows": rows[2],
        "api_calls_ok": run.api_statuses.count(200),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    runs[name] = figures
    REPORT.write_text(json.dumps(runs, indent=2))
    print(name, figures)


@pytest.mark.parametrize("kill_a_worker", [False, True], ids=["steady", "worker-killed"])
def test_200_logins_from_20_clients(site: tuple[Server, str], kill_a_worker: bool) -> None:
    server, database = site
    run, seconds = run_load(server, kill_a_worker)
    rows = table_rows(database)
    report("worker-killed" if kill_a_worker else "steady", run, seconds, rows)
    assert run.logins == CLIENTS * LOGINS_PER_CLIENT
    assert [s for s in run.statuses if s >= 500] == []
    assert rows == (CLIENTS, CLIENTS, CLIENTS, CLIENTS)  # each user and token row once
    assert run.api_statuses == [200] * CLIENTS
    # A sync worker serves one request at a time: one kill cuts off one at most.
    assert run.interrupted <= (1 if kill_a_worker else 0)
