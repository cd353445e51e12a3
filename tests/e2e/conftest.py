"""Real servers and a real browser: the example site under a real HTTP server,
driven by Playwright in Debian's Chromium (installed by ``make test``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "test-artifacts" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
#: Chromium's font configuration: the system's, with colour emoji (see the file).
FONTS_CONF = Path(__file__).with_name("fonts.conf")
#: Flags that keep Chromium off the (closed) network and quiet, as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_START_DEADLINE = 30.0
#: The page languages, as the browser asks for them and as <html lang> says them.
LANGS = {"zh_CN": "zh-CN", "zh_TW": "zh-TW", "en": "en"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            requests.get(url, timeout=5).close()
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not start in {_START_DEADLINE}s:\n{log.read_text()}")


class Server:
    """A process serving on loopback; stopped at teardown, its log kept."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(self.url + "/", self.process, log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self._log_file.close()


def start_example(tmp: Path, **settings: str) -> Server:
    """The example site in sandbox mode under Werkzeug's threaded server."""
    port = free_port()
    env = {
        "WECHAT_WEB_SANDBOX": "1",
        "FLASK_DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp}/example.db",
    }
    env.update(settings)
    argv = [sys.executable, "-m", "flask", "--app", "example", "run", "--port", str(port)]
    argv += ["--no-reload", "--no-debugger"]
    return Server(argv, env, port, tmp / f"example-{port}.log")


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    server = start_example(tmp_path_factory.mktemp("example"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def example_site_base_scope(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    server = start_example(
        tmp_path_factory.mktemp("example-base"), WECHAT_WEB_MP_SCOPE="snsapi_base"
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def relay_site(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Server]:
    """The example as a callback relay only: no AppID, no sandbox."""
    server = start_example(
        tmp_path_factory.mktemp("example-relay"),
        WECHAT_WEB_SANDBOX="0",
        WECHAT_WEB_RELAY_SITES='{"shop": "https://shop.example/wechat/authorized"}',
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> t.Iterator[t.Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            env={**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF)},
        )
        yield browser
        browser.close()


@pytest.fixture(params=list(LANGS))
def locale(request: pytest.FixtureRequest) -> str:
    """Each browser test runs in 简体中文, 繁體中文 and English."""
    return t.cast(str, request.param)


def _context(browser: t.Any, locale: str, **options: t.Any) -> t.Any:
    return browser.new_context(locale=LANGS[locale], **options)


@pytest.fixture
def desktop(browser: t.Any, locale: str) -> t.Iterator[t.Any]:
    context = _context(browser, locale, viewport={"width": 1280, "height": 860})
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> t.Callable[[t.Any, str], Path]:
    """``screenshot(page, "step")`` saves ``<test>-<step>.png`` in the screenshot folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    test = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")

    def take(page: t.Any, step: str) -> Path:
        path = SCREENSHOTS / f"{test}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def pytest_terminal_summary(terminalreporter: t.Any) -> None:
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"Browser screenshots: {SCREENSHOTS}")
