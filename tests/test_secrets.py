"""With DEBUG logging on, no AppSecret, code or token shows up anywhere."""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from flask_wechat_web import ConfigurationError, WeChatError, WeChatWeb, wechat_authorized
from flask_wechat_web.testing import FakeWeChat

from .conftest import (
    MICROMESSENGER_UA,
    callback_path,
    free_port,
    make_app,
    query_of,
    start_login,
)
from .hostile import HostileServer, response


def test_flows_log_no_secret(fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = make_app(fake_wechat)
    tokens: list[dict[str, str]] = []
    codes: list[str] = []
    pages: list[str] = []

    def remember(sender: Flask, token: dict[str, str], **kwargs: object) -> None:
        tokens.append(token)

    with wechat_authorized.connected_to(remember, app):
        for ua in ("Mozilla/5.0", MICROMESSENGER_UA):
            client = app.test_client()
            callback = callback_path(fake_wechat.approve(start_login(client, ua=ua)))
            codes.append(query_of(callback)["code"][0])
            for _ in range(2):  # the second is a replay
                response = client.get(callback)
                pages += [response.get_data(as_text=True), str(response.headers)]
            pages.append(client.get("/").get_data(as_text=True))
            pages.append(str(client.post("/wechat/logout").headers))
        fake_wechat.inject("userinfo", "http_500", times=1)
        client = app.test_client()
        response = client.get(callback_path(fake_wechat.approve(start_login(client))))
        pages.append(response.get_data(as_text=True))

    assert len(tokens) == 2
    forbidden = [app.config["WECHAT_WEB_SECRET"], app.config["WECHAT_WEB_MP_SECRET"], *codes]
    for token in tokens:
        forbidden += [token["access_token"], token["refresh_token"]]
    logged = [record.getMessage() for record in caplog.records]
    assert any("sns/oauth2/access_token" in line for line in logged)  # urllib3 did log
    for text in logged + pages:
        for secret in forbidden:
            assert secret not in text


SECRETS_IN_URLS = {
    "token": ("access_token", lambda w: w.remote.fetch_access_token(code=CODE)),
    "refresh": ("refresh_token", lambda w: w.refresh_token(TOKEN)),
    "userinfo": ("userinfo", lambda w: w.fetch_identity(TOKEN)),
    "auth": ("auth", lambda w: w.check_token(TOKEN)),
}
CODE = "C0DE" + "c" * 28
TOKEN = {
    "access_token": "ACCESS" + "a" * 50,
    "refresh_token": "REFRESH" + "r" * 50,
    "openid": "o" + "A" * 27,
    "expires_at": 4_000_000_000,
}


def forbidden(app: Flask) -> list[str]:
    return [
        app.config["WECHAT_WEB_SECRET"],
        CODE,
        TOKEN["access_token"],
        TOKEN["refresh_token"],
    ]


def assert_logs_clean(app: Flask, caplog: pytest.LogCaptureFixture, expected: str) -> None:
    """No secret in any captured record; and the log path under test did log."""
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    text = "\n".join(handler.format(record) for record in caplog.records)
    assert expected in text, text
    for secret in forbidden(app):
        assert secret not in text


def call_each_endpoint(app: Flask, wechat: WeChatWeb) -> None:
    for _, call in SECRETS_IN_URLS.values():
        with app.test_request_context(), contextlib.suppress(WeChatError):
            call(wechat)


def test_malformed_headers_log_no_secret(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    # urllib3.connection warns "Failed to parse headers (url=...)" with the query.
    def answer(conn: socket.socket, head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nnot a header\r\n\r\n{}")
        conn.shutdown(socket.SHUT_WR)

    server = HostileServer(answer)
    try:
        app, wechat = make_app(fake_wechat, WECHAT_WEB_TIMEOUT=2)
        app.config["WECHAT_WEB_API_BASE_URL"] = server.url
        caplog.set_level(logging.DEBUG)
        call_each_endpoint(app, wechat)
    finally:
        server.close()
    assert_logs_clean(app, caplog, "Failed to parse headers")
    assert sum("Failed to parse headers" in r.getMessage() for r in caplog.records) == 4


def test_retries_and_dropped_connections_log_no_secret(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, wechat = make_app(fake_wechat)
    # Nothing listens: the connect is retried once, and urllib3 logs the URL.
    app.config["WECHAT_WEB_API_BASE_URL"] = f"http://127.0.0.1:{free_port()}"
    call_each_endpoint(app, wechat)
    assert_logs_clean(app, caplog, "Incremented Retry for (url=")
    assert any("Retrying (" in r.getMessage() for r in caplog.records)

    # A server that reads the request and hangs up: a read error, never retried,
    # whose exception (not a log line) quotes the URL.
    caplog.clear()
    server = HostileServer(lambda conn, head: conn.shutdown(socket.SHUT_RDWR))
    try:
        app, wechat = make_app(fake_wechat)
        app.config["WECHAT_WEB_API_BASE_URL"] = server.url
        for _, call in SECRETS_IN_URLS.values():
            with app.test_request_context(), pytest.raises(WeChatError) as info:
                call(wechat)
            assert info.value.__context__ is None
            for secret in forbidden(app):
                assert secret not in str(info.value)
    finally:
        server.close()
    assert_logs_clean(app, caplog, "Starting new HTTP connection")


def test_a_full_pool_and_reset_connections_log_no_secret(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = b'{"errcode": 0, "errmsg": "ok"}'

    def answer(conn: socket.socket, head: bytes) -> None:
        time.sleep(0.2)  # every thread holds a connection at once
        conn.sendall(response(body))

    server = HostileServer(answer)
    try:
        app, wechat = make_app(fake_wechat)
        app.config["WECHAT_WEB_API_BASE_URL"] = server.url

        def check() -> None:
            with app.app_context():
                assert wechat.check_token(TOKEN) is True

        threads = [threading.Thread(target=check) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert_logs_clean(app, caplog, "Connection pool is full")
        server.drop_connections()
        time.sleep(0.1)
        check()  # on a pooled connection the server has since closed
    finally:
        server.close()
    assert_logs_clean(app, caplog, "Resetting dropped connection")


def test_every_logger_of_urllib3_and_requests_is_scrubbed(fake_wechat: FakeWeChat) -> None:
    import requests
    import urllib3

    make_app(fake_wechat)  # installs the scrubber
    found = []
    for package in (urllib3, requests):
        root = Path(package.__file__ or "").parent
        for path in root.rglob("*.py"):
            if "getLogger(" in path.read_text(encoding="utf-8"):
                parts = path.relative_to(root.parent).with_suffix("").parts
                found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert "urllib3.connection" in found and len(found) >= 6
    for name in found:
        filters = logging.getLogger(name).filters
        assert any(type(f).__name__ == "_ScrubSecrets" for f in filters), name


@pytest.mark.parametrize("args", [("check",), ("check", "--online"), ("urls",)], ids=" ".join)
@pytest.mark.parametrize("secrets_ok", [True, False], ids=["valid", "malformed"])
def test_cli_never_echoes_a_secret(
    fake_wechat: FakeWeChat, args: tuple[str, ...], secrets_ok: bool
) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    marker = "Hunter2" + "x" * 25
    app.config.update(
        SECRET_KEY=marker + "key",
        WECHAT_WEB_CALLBACK_URL=(
            f"https://relay:{marker}pw@auth.example.com/wechat/authorized?key={marker}q"
        ),
    )
    if not secrets_ok:  # a secret pasted into the wrong key, or cut short
        app.config.update(
            WECHAT_WEB_SECRET=marker[:31],
            WECHAT_WEB_MP_SECRET=marker + "!",
            WECHAT_WEB_APPID=marker,
            WECHAT_WEB_SCOPE=marker,
            WECHAT_WEB_API_BASE_URL=f"http://u:{marker}@127.0.0.1:{free_port()}",
        )
    result = app.test_cli_runner().invoke(args=["wechat", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip()
    for value in (marker, app.config["WECHAT_WEB_SECRET"], app.config["WECHAT_WEB_MP_SECRET"]):
        assert value not in result.output
    if args == ("urls",):
        assert "https://auth.example.com/wechat/authorized?key=…" in result.output


#: The AppSecret, pasted into the wrong key.
PASTED = "0123456789abcdef0123456789abcdef"
#: Every key a pasted AppSecret could land in, and what it looks like there.
MISPLACED = [
    ("WECHAT_WEB_CALLBACK_URL", PASTED),
    ("WECHAT_WEB_CALLBACK_URL", f"https://{PASTED}"),
    ("WECHAT_WEB_CALLBACK_URL", f"https:{PASTED}"),
    ("WECHAT_WEB_RELAY_ID", PASTED),
    ("SERVER_NAME", PASTED),
    ("WECHAT_WEB_OPEN_BASE_URL", PASTED),
    ("WECHAT_WEB_API_BASE_URL", PASTED),
    ("WECHAT_WEB_WXLOGIN_JS_URL", PASTED),
    ("WECHAT_WEB_URL_PREFIX", PASTED),
    ("WECHAT_WEB_SCOPE", PASTED),
    ("WECHAT_WEB_MP_SCOPE", PASTED),
    ("WECHAT_WEB_LANG", PASTED),
    ("WECHAT_WEB_UI_LOCALE", PASTED),
    ("WECHAT_WEB_APPID", PASTED),
    ("WECHAT_WEB_MP_APPID", PASTED),
    ("WECHAT_WEB_ERROR_VIEW", PASTED),
    ("WECHAT_WEB_TIMEOUT", PASTED),
    ("WECHAT_WEB_STATE_TTL", PASTED),
    ("WECHAT_WEB_RELAY_SITES", {"shop": PASTED}),
    ("WECHAT_WEB_RELAY_SITES", {PASTED: "https://shop.example.com"}),
    ("WECHAT_WEB_RELAY_SITES", PASTED),
]


@pytest.mark.parametrize(("key", "value"), MISPLACED, ids=lambda v: str(v)[:28])
def test_configuration_errors_never_echo_a_value_pasted_into_the_wrong_key(
    fake_wechat: FakeWeChat, key: str, value: object
) -> None:
    try:
        app, _ = make_app(fake_wechat, **{key: value})
    except ConfigurationError as error:
        assert PASTED not in str(error)
    else:  # checked at the first request (the owner's page), or no problem to the app
        page = app.test_client().get("/wechat/login")
        if page.status_code == 500:
            assert PASTED not in page.get_data(as_text=True)


@pytest.mark.parametrize(("key", "value"), MISPLACED, ids=lambda v: str(v)[:28])
@pytest.mark.parametrize("args", [("check",), ("check", "--online"), ("urls",)], ids=" ".join)
def test_cli_never_echoes_a_value_pasted_into_the_wrong_key(
    fake_wechat: FakeWeChat, key: str, value: object, args: tuple[str, ...]
) -> None:
    config = {"SERVER_NAME": "www.example.com", "PREFERRED_URL_SCHEME": "https"}
    if key == "WECHAT_WEB_RELAY_SITES":  # read when the app is set up: it cannot load
        with pytest.raises(ConfigurationError):
            make_app(fake_wechat, **config, **{key: value})
        return
    app, _ = make_app(fake_wechat, **config)
    app.config[key] = value
    result = app.test_cli_runner().invoke(args=["wechat", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip()
    assert PASTED not in result.output
    if args == ("check",) and key.startswith("WECHAT_WEB_"):
        assert key in result.output  # named, not shown


def test_the_check_names_the_callback_url_key_instead_of_its_value(
    fake_wechat: FakeWeChat,
) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    app.config["WECHAT_WEB_CALLBACK_URL"] = PASTED
    result = app.test_cli_runner().invoke(args=["wechat", "check"])
    assert result.exit_code == 1
    assert "problem: WECHAT_WEB_CALLBACK_URL must be an absolute http(s) URL." in result.output
    app.config["WECHAT_WEB_CALLBACK_URL"] = "http://www.example.com/wechat/authorized"
    result = app.test_cli_runner().invoke(args=["wechat", "check"])
    assert "the callback URL http://www.example.com/wechat/authorized is not https" in (
        result.output
    )
    app.config.update(WECHAT_WEB_CALLBACK_URL=None, SERVER_NAME=PASTED)
    result = app.test_cli_runner().invoke(args=["wechat", "check"])
    assert result.exit_code == 0 and "warning: SERVER_NAME is not shown" in result.output
    result = app.test_cli_runner().invoke(args=["wechat", "urls"])
    assert result.exit_code == 1 and "problem: SERVER_NAME is not shown" in result.output


class Unreachable(requests.adapters.BaseAdapter):
    """A host that refuses every connection, without asking any DNS server."""

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        raise requests.ConnectionError("refused")

    def close(self) -> None:
        pass


def test_a_host_that_may_be_a_secret_is_named_not_shown(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    url = f"https://{PASTED}"
    app.config["WECHAT_WEB_API_BASE_URL"] = url
    app.extensions["wechat_web"].pool.mounts[f"{url}/"] = Unreachable()
    result = app.test_cli_runner().invoke(args=["wechat", "check", "--online"])
    assert result.exit_code == 1 and PASTED not in result.output
    assert "WECHAT_WEB_API_BASE_URL's host could not be reached" in result.output


def test_a_misplaced_value_in_the_error_view_is_not_logged(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_ERROR_VIEW=PASTED)
    with caplog.at_level(logging.DEBUG):
        page = app.test_client().get("/wechat/authorized?code=abc")  # no state
    assert page.status_code == 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "WECHAT_WEB_ERROR_VIEW" in logged and PASTED not in logged


def test_tracebacks_in_library_logs_are_scrubbed(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(fake_wechat)  # installs the scrubber
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError(f"GET /sns/auth?access_token={TOKEN['access_token']}")
    except ValueError:
        logging.getLogger("urllib3.connection").warning("failed", exc_info=True)
    [record] = caplog.records
    assert record.exc_text and "access_token=***" in record.exc_text
    assert_logs_clean(app, caplog, "access_token=***")
