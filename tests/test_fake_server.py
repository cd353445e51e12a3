"""FakeWeChatServer: the fake over real loopback HTTP(S), with keep-alive."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
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

from .conftest import free_port, submit_consent


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


def test_each_port_serves_its_own_host(fake: FakeWeChat, server: FakeWeChatServer) -> None:
    page = authorize(server, fake.website_app).replace(server.open_base_url, "")
    assert requests.get(server.api_base_url + page, timeout=5).status_code == 404
    assert requests.get(server.open_base_url + "/sns/auth", timeout=5).status_code == 404
    assert requests.get(server.open_base_url + page, timeout=5).status_code == 200
    assert requests.get(server.api_base_url + "/sns/auth", timeout=5).status_code == 200


def test_configure_registers_the_apps_host(fake: FakeWeChat) -> None:
    for config, domain in [
        ({}, "localhost"),
        ({"SERVER_NAME": "www.example.com:8443"}, "www.example.com:8443"),
        ({"WECHAT_WEB_CALLBACK_URL": "https://auth.example.com/cb"}, "auth.example.com"),
    ]:
        app = Flask(__name__)
        app.config.update(config)
        fake.configure(app)
        assert fake.website_app.domain == fake.mp_app.domain == domain
    fake.reset()
    assert fake.website_app.domain == "localhost"


def test_a_curl_session_against_the_cli_server() -> None:
    """What docs/testing.rst shows a team on another stack: the CLI fake, driven by curl."""
    open_port, api_port = free_port(), free_port()
    argv = [sys.executable, "-m", "flask_wechat_web.testing", "--threads", "4"]
    argv += ["--open-port", str(open_port), "--api-port", str(api_port), "--domain", "localhost"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)

    def curl(*args: str) -> str:
        run = subprocess.run(["curl", "-s", *args], capture_output=True, timeout=10, check=True)
        return run.stdout.decode("utf-8")

    try:
        assert process.stdout is not None
        config = json.loads(process.stdout.readline())
        open_url, api_url = f"http://127.0.0.1:{open_port}", f"http://127.0.0.1:{api_port}"
        assert (config["WECHAT_WEB_OPEN_BASE_URL"], config["WECHAT_WEB_API_BASE_URL"]) == (
            open_url,
            api_url,
        )
        appid, secret = config["WECHAT_WEB_APPID"], config["WECHAT_WEB_SECRET"]
        query = urlencode(
            [
                ("appid", appid),
                ("redirect_uri", "http://localhost:3000/callback"),
                ("response_type", "code"),
                ("scope", "snsapi_login"),
                ("state", "xyz"),
            ]
        )
        assert "以 张三😀 的身份登录" in curl(f"{open_url}/connect/qrconnect?{query}")
        answer = curl(
            "-i",
            f"{open_url}/connect/confirm",
            *("--data-urlencode", "endpoint=qrconnect"),
            *("--data-urlencode", f"query={query}"),
            *("--data-urlencode", "user=zhangsan"),
        )
        location = re.search(r"(?im)^location: (\S+)", answer)
        assert location is not None, answer
        assert location.group(1).startswith("http://localhost:3000/callback?code=")
        code = parse_qs(urlsplit(location.group(1)).query)["code"][0]
        token = json.loads(
            curl(
                f"{api_url}/sns/oauth2/access_token?appid={appid}&secret={secret}"
                f"&code={code}&grant_type=authorization_code"
            )
        )
        profile = json.loads(
            curl(
                f"{api_url}/sns/userinfo?access_token={token['access_token']}"
                f"&openid={token['openid']}&lang=zh_CN"
            )
        )
        assert profile["nickname"] == "张三😀" and profile["sex"] == 0
        elsewhere = query.replace("localhost%3A3000", "evil.example")
        page = curl(f"{open_url}/connect/qrconnect?{elsewhere}")
        assert "<h1>redirect_uri 参数错误</h1>" in page and "code=" not in page
        assert curl(f"{api_url}/connect/qrconnect?{query}") == "404 Not Found"
        mini_appid = config["WECHAT_WEB_MINIPROGRAM_APPID"]
        mini_secret = config["WECHAT_WEB_MINIPROGRAM_SECRET"]
        js_code = json.loads(curl(f"{open_url}/_fake/miniprogram-code", "-d", "user=zhangsan"))
        session = json.loads(
            curl(
                f"{api_url}/sns/jscode2session?appid={mini_appid}&secret={mini_secret}"
                f"&js_code={js_code['code']}&grant_type=authorization_code"
            )
        )
        assert set(session) == {"openid", "session_key", "unionid"}
        assert session["unionid"] == token["unionid"]
    finally:
        process.terminate()
        assert process.wait(10) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_the_cli_documents_every_flag() -> None:
    from flask_wechat_web.testing.__main__ import _parser

    options = [action for action in _parser()._actions if action.option_strings]
    names = {name for action in options for name in action.option_strings}
    assert {"--open-port", "--api-port", "--domain", "--host", "--threads"} <= names
    assert all(action.help and len(action.help.split()) > 2 for action in options)
