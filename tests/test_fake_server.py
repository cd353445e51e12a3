"""FakeWeChatServer: the fake over real loopback HTTP(S), with keep-alive."""

from __future__ import annotations

import json
import logging
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import trustme
from flask import Flask

from flask_wechat_web.testing.fake import FakeApp, FakeWeChat
from flask_wechat_web.testing.server import FakeWeChatServer

from .conftest import submit_consent


@pytest.fixture(scope="module")
def server() -> t.Iterator[FakeWeChatServer]:
    with FakeWeChat().serve() as server:
        yield server


@pytest.fixture
def fake(server: FakeWeChatServer) -> FakeWeChat:
    server.fake.reset()
    server.reset_counters()
    return server.fake


@pytest.fixture
def session() -> t.Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def authorize(server: FakeWeChatServer, app: FakeApp, state: str = "xyz") -> str:
    query = urlencode(
        [
            ("appid", app.appid),
            ("redirect_uri", "http://localhost/cb"),
            ("response_type", "code"),
            ("scope", "snsapi_login"),
            ("state", state),
        ]
    )
    return f"{server.open_base_url}/connect/qrconnect?{query}#wechat_redirect"


def wechat_json(response: requests.Response) -> dict[str, t.Any]:
    """Decode as UTF-8 whatever the header says, as every WeChat client must."""
    return dict(json.loads(response.content.decode("utf-8")))


def log_in(server: FakeWeChatServer, session: requests.Session) -> dict[str, t.Any]:
    """A whole QR login over HTTP: QR page, approval, code exchange, profile."""
    app = server.fake.website_app
    page = session.get(authorize(server, app), allow_redirects=False, timeout=5)
    assert page.status_code == 200
    approved = submit_consent(session, page, user="zhangsan")
    assert approved.status_code == 302
    code = parse_qs(urlsplit(approved.headers["Location"]).query)["code"][0]
    token = wechat_json(
        session.get(
            f"{server.api_base_url}/sns/oauth2/access_token",
            params={
                "appid": app.appid,
                "secret": app.secret,
                "code": code,
                "grant_type": "authorization_code",
            },
            timeout=5,
        )
    )
    return wechat_json(
        session.get(
            f"{server.api_base_url}/sns/userinfo",
            params={"access_token": token["access_token"], "openid": token["openid"]},
            timeout=5,
        )
    )


def test_urls_and_config(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    assert server.open_base_url.startswith("http://127.0.0.1:")
    assert server.api_base_url.startswith("http://127.0.0.1:")
    assert server.open_base_url != server.api_base_url
    assert fake.server is server and server.fake is fake
    config = fake.config()
    assert config["WECHAT_WEB_API_BASE_URL"] == server.api_base_url
    assert config["WECHAT_WEB_APPID"] == fake.website_app.appid
    assert config["WECHAT_WEB_WXLOGIN_JS_URL"].startswith(server.open_base_url + "/connect/")


def test_a_login_over_http(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    with requests.Session() as session:
        info = log_in(server, session)
    assert info["nickname"] == "张三😀"
    assert fake.calls["qrconnect"] == fake.calls["confirm"] == 1
    assert fake.calls["access_token"] == fake.calls["userinfo"] == 1


def test_api_body_is_raw_utf8_text_plain(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    with requests.Session() as session:
        log_in(server, session)
        response = session.get(f"{server.api_base_url}/sns/auth", timeout=5)
    assert response.headers["Content-Type"] == "text/plain"
    assert response.encoding == "ISO-8859-1", "requests' guess: why clients must decode UTF-8"


def test_keep_alive_one_connection_for_many_requests(
    fake: FakeWeChat, server: FakeWeChatServer
) -> None:
    with requests.Session() as session:
        for _ in range(3):
            log_in(server, session)
    assert server.api_connections == 1
    assert server.open_connections == 1
    assert fake.calls["access_token"] == 3
    with requests.Session() as other:
        other.get(f"{server.api_base_url}/sns/auth", timeout=5)
    assert server.api_connections == 2
    server.reset_counters()
    assert (server.api_connections, server.open_connections) == (0, 0)


def test_concurrent_logins(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    names: list[str] = []

    def work() -> None:
        with requests.Session() as session:
            for _ in range(5):
                names.append(log_in(server, session)["nickname"])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert names == ["张三😀"] * 40
    assert server.api_connections == 8


def test_drop_closes_the_connection_quietly(
    fake: FakeWeChat,
    server: FakeWeChatServer,
    session: requests.Session,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_wechat_web.testing.server")
    url = f"{server.api_base_url}/sns/auth"
    assert session.get(url, timeout=5).status_code == 200
    fake.inject("auth", "drop", times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url, timeout=5)
    assert session.get(url, timeout=5).json()["errcode"] == 41001
    assert server.api_connections == 2, "the dropped connection was closed"
    assert caplog.records == []
    assert capfd.readouterr().err == ""


def test_truncated_response(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    fake.inject("auth", "truncated", times=1)
    with requests.Session() as session:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session.get(f"{server.api_base_url}/sns/auth", timeout=5)


@pytest.mark.parametrize(("fault", "status"), [("http_500", 500), ("http_503", 503)])
def test_http_errors(
    fake: FakeWeChat, server: FakeWeChatServer, session: requests.Session, fault: str, status: int
) -> None:
    fake.inject("auth", fault, times=1)
    response = session.get(f"{server.api_base_url}/sns/auth", timeout=5)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")
    assert session.get(f"{server.api_base_url}/sns/auth", timeout=5).status_code == 200
    assert server.api_connections == 1, "an error page keeps the connection"


def test_latency_against_a_client_timeout(
    fake: FakeWeChat, server: FakeWeChatServer, session: requests.Session
) -> None:
    fake.inject("auth", "latency", times=1, delay=0.3)
    start = time.perf_counter()
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{server.api_base_url}/sns/auth", timeout=(1, 0.1))
    assert time.perf_counter() - start < 0.3, "the client gave up before the answer"


def test_https_with_a_trusted_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    fake = FakeWeChat()
    with fake.serve(certfile=str(certfile), keyfile=str(keyfile)) as server:
        assert server.api_base_url.startswith("https://127.0.0.1:")
        with requests.Session() as session:
            for _ in range(3):
                response = session.get(
                    f"{server.api_base_url}/sns/auth", verify=str(cafile), timeout=5
                )
                assert response.json()["errcode"] == 41001
        assert server.api_connections == 1


def test_stop_closes_the_ports() -> None:
    server = FakeWeChat().serve(threads=2)
    url = f"{server.api_base_url}/sns/auth"
    assert requests.get(url, timeout=5).status_code == 200
    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=5)


def test_configure_points_an_app_at_the_server(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    app = Flask(__name__)
    app.config["WECHAT_WEB_APPID"] = "wx" + "9" * 16
    fake.configure(app)
    assert app.config["WECHAT_WEB_APPID"] == "wx" + "9" * 16, "kept"
    assert app.config["WECHAT_WEB_SECRET"] == fake.website_app.secret
    assert app.config["WECHAT_WEB_OPEN_BASE_URL"] == server.open_base_url
    in_process = FakeWeChat()
    assert in_process.config()["WECHAT_WEB_API_BASE_URL"] == "http://api.fake-wechat.invalid"
    with pytest.raises(RuntimeError, match="after WeChatWeb"):
        in_process.configure(Flask(__name__))
