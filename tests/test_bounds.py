"""A misbehaving WeChat on loopback: every call ends in time, in bounded memory, as a 502."""

from __future__ import annotations

import time
import tracemalloc
import typing as t
import zlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_wechat_web import WeChatUnavailableError, wechat_login_failed
from flask_wechat_web.testing import FakeWeChat

from .conftest import make_app, query_of, start_login
from .hostile import Answer, HostileServer, drip, response, send

TIMEOUT = 0.5
#: Time allowed past WECHAT_WEB_TIMEOUT for the worker to be free again.
MARGIN = 0.5
MiB = 1024 * 1024


@pytest.fixture
def hostile() -> t.Iterator[t.Callable[[Answer], HostileServer]]:
    servers: list[HostileServer] = []

    def start(answer: Answer) -> HostileServer:
        servers.append(HostileServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def login_against(
    fake: FakeWeChat, server: HostileServer
) -> tuple[TestResponse, list[BaseException], float]:
    """A callback whose token call goes to ``server``: the page, the errors, seconds."""
    app, _ = make_app(fake, WECHAT_WEB_TIMEOUT=TIMEOUT)
    app.config["WECHAT_WEB_API_BASE_URL"] = server.url
    client = app.test_client()
    state = query_of(start_login(client))["state"][0]
    errors: list[BaseException] = []
    with wechat_login_failed.connected_to(lambda s, error: errors.append(error), app):
        started = time.monotonic()
        response = client.get(f"/wechat/authorized?code={'c' * 32}&state={state}")
        elapsed = time.monotonic() - started
    return response, errors, elapsed


def assert_clean_502(response: TestResponse, errors: list[BaseException], why: str) -> None:
    assert response.status_code == 502
    assert "微信暂时没有响应" in response.get_data(as_text=True)  # zh_CN, the default
    [error] = errors
    assert isinstance(error, WeChatUnavailableError)
    assert why in str(error)


@pytest.mark.parametrize("part", ["headers", "body"])
def test_drip_fed_answer_frees_the_worker_within_the_timeout(
    fake_wechat: FakeWeChat, hostile: t.Callable[[Answer], HostileServer], part: str
) -> None:
    answer = response(b'{"access_token": "x", "expires_in": 7200}')
    head, body = answer.split(b"\r\n\r\n", 1)
    if part == "headers":
        dripper = drip(answer)
    else:

        def dripper(conn: t.Any, request: bytes) -> None:
            conn.sendall(head + b"\r\n\r\n")
            drip(body)(conn, request)

    server = hostile(dripper)
    page, errors, elapsed = login_against(fake_wechat, server)
    assert_clean_502(page, errors, "did not answer within WECHAT_WEB_TIMEOUT")
    assert elapsed < TIMEOUT + MARGIN, elapsed
    print(f"drip-fed {part}: callback answered 502 after {elapsed:.3f} s")


def peak_memory_of(fn: t.Callable[[], t.Any]) -> tuple[t.Any, int]:
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_huge_body_is_refused_unread(
    fake_wechat: FakeWeChat, hostile: t.Callable[[Answer], HostileServer]
) -> None:
    server = hostile(send(response(b"{" + b" " * (16 * MiB) + b"}")))
    (page, errors, _), peak = peak_memory_of(lambda: login_against(fake_wechat, server))
    assert_clean_502(page, errors, "larger than 65536 bytes")
    assert peak < 4 * MiB, peak
    server.close()
    assert server.unsent == 1  # the client stopped reading: the rest was never sent
    print(f"16 MiB body: refused, peak traced memory {peak / MiB:.2f} MiB")


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """64 KiB of gzip that inflates to 64 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    spaces = b" " * MiB
    parts = [compressor.compress(b"{"), *(compressor.compress(spaces) for _ in range(64))]
    bomb = b"".join([*parts, compressor.compress(b"}"), compressor.flush()])
    assert len(bomb) < 70 * 1024
    return bomb


def test_compressed_answer_is_never_inflated_past_the_cap(
    fake_wechat: FakeWeChat, hostile: t.Callable[[Answer], HostileServer], gzip_bomb: bytes
) -> None:
    server = hostile(send(response(gzip_bomb, "Content-Encoding: gzip")))
    (page, errors, _), peak = peak_memory_of(lambda: login_against(fake_wechat, server))
    assert_clean_502(page, errors, "inflates to more than 65536 bytes")
    assert peak < 4 * MiB, peak
    assert b"accept-encoding: identity" in server.heads[0].lower()
    print(f"64 KiB gzip bomb: refused, peak traced memory {peak / MiB:.2f} MiB")


def test_small_compressed_answer_is_read(
    fake_wechat: FakeWeChat, hostile: t.Callable[[Answer], HostileServer]
) -> None:
    # A proxy that compresses anyway, within the cap, still works.
    body = b'{"errcode": 40029, "errmsg": "invalid code"}'
    server = hostile(send(response(zlib.compress(body), "Content-Encoding: deflate")))
    page, errors, _ = login_against(fake_wechat, server)
    assert page.status_code == 400
    assert type(errors[0]).__name__ == "InvalidCodeError"


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip", "compress"])
def test_unknown_encodings_are_refused(
    fake_wechat: FakeWeChat, hostile: t.Callable[[Answer], HostileServer], encoding: str
) -> None:
    server = hostile(send(response(b"\x00" * 100, f"Content-Encoding: {encoding}")))
    page, errors, _ = login_against(fake_wechat, server)
    assert_clean_502(page, errors, "encoded")


def test_answers_are_read_whole_and_the_connection_kept(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    from .conftest import log_in

    for _ in range(3):
        assert log_in(client, fake_wechat)[0].status_code == 302
    assert fake_wechat.server.api_connections == 1


def test_the_deadline_holds_through_a_proxy(
    fake_wechat: FakeWeChat,
    hostile: t.Callable[[Answer], HostileServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = hostile(drip(response(b"{}")))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    app, _ = make_app(fake_wechat, WECHAT_WEB_TIMEOUT=TIMEOUT)
    app.config["WECHAT_WEB_API_BASE_URL"] = "http://127.0.0.1:9"  # reached only through the proxy
    client = app.test_client()
    state = query_of(start_login(client))["state"][0]
    started = time.monotonic()
    page = client.get(f"/wechat/authorized?code={'c' * 32}&state={state}")
    elapsed = time.monotonic() - started
    assert page.status_code == 502
    assert proxy.heads and proxy.heads[0].startswith(b"GET http://127.0.0.1:9/sns/oauth2/")
    assert elapsed < TIMEOUT + MARGIN, elapsed


def test_a_redirect_is_refused_not_followed(
    fake_wechat: FakeWeChat, hostile: t.Callable[[Answer], HostileServer]
) -> None:
    elsewhere = hostile(send(response(b'{"access_token": "x"}')))
    server = hostile(send(response(b"", f"Location: {elsewhere.url}/sns/", status="302 Found")))
    page, errors, _ = login_against(fake_wechat, server)
    assert_clean_502(page, errors, "is a redirect (HTTP 302), never followed")
    assert len(server.heads) == 1 and elsewhere.heads == []
