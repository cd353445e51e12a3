"""WeChat's own Python clients against the fake, over real HTTPS.

wechatpy's ``WeChatOAuth`` and social-core's ``weixin`` and ``weixinapp``
backends are used as they ship, with their own hard-coded WeChat URLs: a
CONNECT proxy on loopback stands in for DNS, tunnelling
``open.weixin.qq.com`` and ``api.weixin.qq.com`` (and nothing else) to the
fake's two ports, which serve a certificate for those names. What a client
gets is what it would get from WeChat, its own bugs included.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading
import typing as t
import warnings
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
import trustme
from social_core.backends.weixin import WeixinOAuth2, WeixinOAuth2APP
from social_core.exceptions import AuthProviderError
from social_core.storage import BaseStorage, NonceMixin
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from flask_wechat_web.testing import FakeWeChat, FakeWeChatServer

from .conftest import MICROMESSENGER_UA, submit_consent

with warnings.catch_warnings():  # python3-openid, which social-core imports, warns
    warnings.filterwarnings("ignore", "defusedxml.cElementTree", DeprecationWarning)
    from social_core.strategy import BaseStrategy

OPEN, API = "open.weixin.qq.com", "api.weixin.qq.com"
CALLBACK = "https://site.example/complete/weixin/"
EMOJI_NICKNAME = "张三😀"


class _Tunnel(socketserver.BaseRequestHandler):
    """``CONNECT host:443`` to the fake's port for that host; refuses any other."""

    server: _Proxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target = head.split(b" ", 2)[:2]
        port = self.server.routes.get(target.decode())
        if method != b"CONNECT" or port is None:
            self.request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(("127.0.0.1", port)) as upstream:
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with selectors.DefaultSelector() as selector:
                selector.register(self.request, selectors.EVENT_READ, upstream)
                selector.register(upstream, selectors.EVENT_READ, self.request)
                while True:
                    for key, _ in selector.select(timeout=10):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        key.data.sendall(data)


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self, routes: dict[str, int]) -> None:
        self.routes = routes
        super().__init__(("127.0.0.1", 0), _Tunnel)


@pytest.fixture(scope="module")
def wechat_hosts(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[FakeWeChatServer]:
    """The fake over HTTPS as WeChat's two hosts, reached through the proxy."""
    tmp = tmp_path_factory.mktemp("wechat-hosts")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    ca.issue_cert(OPEN, API).private_key_and_cert_chain_pem.write_to_path(str(tmp / "cert.pem"))
    with FakeWeChat(domain="site.example").serve(certfile=str(tmp / "cert.pem")) as server:
        ports = {
            f"{OPEN}:443": int(server.open_base_url.rsplit(":", 1)[1]),
            f"{API}:443": int(server.api_base_url.rsplit(":", 1)[1]),
        }
        proxy = _Proxy(ports)
        thread = threading.Thread(target=proxy.serve_forever, daemon=True)
        thread.start()
        server.ca_file = str(tmp / "ca.pem")  # type: ignore[attr-defined]
        server.proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"  # type: ignore[attr-defined]
        try:
            yield server
        finally:
            proxy.shutdown()
            proxy.server_close()
            thread.join(5)


@pytest.fixture
def fake(wechat_hosts: FakeWeChatServer, monkeypatch: pytest.MonkeyPatch) -> FakeWeChat:
    """The fake, reset, with every requests call in this test sent through the proxy."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", wechat_hosts.proxy_url)  # type: ignore[attr-defined]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", wechat_hosts.ca_file)  # type: ignore[attr-defined]
    wechat_hosts.fake.reset()
    return wechat_hosts.fake


def approve_in_browser(authorize_url: str, user: str = "zhangsan") -> dict[str, list[str]]:
    """A person opens the link in WeChat and taps "log in as": the callback's query."""
    with requests.Session() as phone:
        phone.headers["User-Agent"] = MICROMESSENGER_UA
        page = phone.get(authorize_url, allow_redirects=False, timeout=10)
        assert page.status_code == 200, page.text[:300]
        approved = submit_consent(phone, page, user=user)
    assert approved.status_code == 302
    location = approved.headers["Location"]
    assert location.startswith(CALLBACK)
    return parse_qs(urlsplit(location).query)


def test_only_wechats_hosts_are_tunnelled(fake: FakeWeChat) -> None:
    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://example.com/", timeout=5)


# -- wechatpy --------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["qrconnect", "oauth2/authorize"])
def test_wechatpy_logs_in(fake: FakeWeChat, flow: str) -> None:
    app = fake.website_app if flow == "qrconnect" else fake.mp_app
    scope = "snsapi_login" if flow == "qrconnect" else "snsapi_userinfo"
    oauth = WeChatOAuth(app.appid, app.secret, CALLBACK, scope=scope, state="s7ate")
    url = oauth.qrconnect_url if flow == "qrconnect" else oauth.authorize_url
    assert url.startswith(f"https://{OPEN}/connect/{flow}?") and url.endswith("#wechat_redirect")
    callback = approve_in_browser(url)
    assert callback["state"] == ["s7ate"]
    token = oauth.fetch_access_token(callback["code"][0])
    assert token["openid"] == fake.openid(fake.user, app.appid)
    profile = oauth.get_user_info()
    assert profile["nickname"] == EMOJI_NICKNAME
    assert (profile["sex"], profile["country"], profile["privilege"]) == (0, "", [])
    assert oauth.check_access_token() is True
    fake.advance(7201)
    with pytest.raises(WeChatOAuthException) as expired:
        oauth.get_user_info()
    assert expired.value.errcode == 42001
    with pytest.raises(WeChatOAuthException):
        oauth.check_access_token()  # wechatpy's bug: it raises where it means to say False
    renewed = oauth.refresh_access_token(token["refresh_token"])
    assert renewed["access_token"] != token["access_token"]
    assert oauth.get_user_info()["nickname"] == EMOJI_NICKNAME
    with pytest.raises(WeChatOAuthException) as reused:
        oauth.fetch_access_token(callback["code"][0])
    assert reused.value.errcode == 40163


def test_wechatpy_snsapi_base_is_silent(fake: FakeWeChat) -> None:
    app = fake.mp_app
    oauth = WeChatOAuth(app.appid, app.secret, CALLBACK, state="s7ate")  # snsapi_base
    answer = requests.get(
        oauth.authorize_url, headers={"User-Agent": MICROMESSENGER_UA}, allow_redirects=False
    )
    assert answer.status_code == 302
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    assert oauth.fetch_access_token(code)["scope"] == "snsapi_base"
    with pytest.raises(WeChatOAuthException) as denied:
        oauth.get_user_info()
    assert denied.value.errcode == 48001


# -- social-core -----------------------------------------------------------------


class Nonces(NonceMixin):
    """social-core's one-time states, kept in memory."""

    issued: t.ClassVar[set[tuple[str, int, str]]] = set()

    @classmethod
    def use(cls, server_url: str, timestamp: int, salt: str) -> bool:
        fresh = (server_url, timestamp, salt) not in cls.issued
        cls.issued.add((server_url, timestamp, salt))
        return fresh

    @classmethod
    def consume(cls, server_url: str, timestamp: int, salt: str) -> bool:
        try:
            cls.issued.remove((server_url, timestamp, salt))
        except KeyError:
            return False
        return True


class Storage(BaseStorage):
    """The least storage social-core needs here: its nonces (the pipeline keeps no user)."""

    nonce = Nonces


class Strategy(BaseStrategy):
    """The least a social-core strategy needs: settings, a session, the request's data."""

    def __init__(self, settings: dict[str, t.Any]) -> None:
        super().__init__(Storage)
        self.settings, self.session, self.data = settings, {}, {}

    def get_setting(self, name: str) -> t.Any:
        return self.settings[name]

    def get_request_data(self, merge: bool = True) -> dict[str, t.Any]:
        return self.data

    def session_get(self, name: str, default: t.Any = None) -> t.Any:
        return self.session.get(name, default)

    def session_set(self, name: str, value: t.Any) -> None:
        self.session[name] = value

    def session_pop(self, name: str) -> t.Any:
        return self.session.pop(name, None)

    def build_absolute_uri(self, path: str | None = None) -> str:
        return urljoin("https://site.example/", path or "/")


LOGGED_IN: list[dict[str, t.Any]] = []


def remember(response: dict[str, t.Any], details: dict[str, t.Any], **kwargs: t.Any) -> None:
    """The pipeline's last step: what a site would make its user from."""
    LOGGED_IN.append({"response": response, "details": details})


def social_login(
    fake: FakeWeChat, backend_class: type[WeixinOAuth2[t.Any]], app_key: str
) -> tuple[WeixinOAuth2[t.Any], dict[str, t.Any]]:
    app = fake.website_app if app_key == "website" else fake.mp_app
    prefix = f"SOCIAL_AUTH_{backend_class.name.upper()}_"
    settings = {
        f"{prefix}KEY": app.appid,
        f"{prefix}SECRET": app.secret,
        "SOCIAL_AUTH_PIPELINE": [
            "social_core.pipeline.social_auth.social_details",
            f"{__name__}.remember",
        ],
    }
    if app.kind == "mp":  # weixinapp inherits snsapi_login, which WeChat refuses there
        settings |= {f"{prefix}SCOPE": ["snsapi_userinfo"], f"{prefix}IGNORE_DEFAULT_SCOPE": True}
    strategy = Strategy(settings)
    backend = backend_class(strategy, redirect_uri=CALLBACK)
    url = backend.auth_url()
    callback = approve_in_browser(url)
    strategy.data = backend.data = {name: values[0] for name, values in callback.items()}
    LOGGED_IN.clear()
    backend.auth_complete()
    return backend, LOGGED_IN[0]["response"]


@pytest.mark.parametrize(
    ("backend_class", "app_key"), [(WeixinOAuth2, "website"), (WeixinOAuth2APP, "mp")]
)
def test_social_core_logs_in(
    fake: FakeWeChat, backend_class: type[WeixinOAuth2[t.Any]], app_key: str
) -> None:
    backend, response = social_login(fake, backend_class, app_key)
    app = fake.website_app if app_key == "website" else fake.mp_app
    assert response["openid"] == fake.openid(fake.user, app.appid)
    # The fake sends text/plain with no charset, as WeChat does: requests decodes it as
    # Latin-1 and social-core's raw_unicode_escape repair turns that back into the emoji.
    assert response["nickname"] == EMOJI_NICKNAME
    assert LOGGED_IN[0]["details"]["username"] == EMOJI_NICKNAME
    refresh_token = response["refresh_token"]
    # social-core's weixin backends have no REFRESH_TOKEN_URL: the refresh is POSTed to
    # the token URL, where WeChat finds no code (41008). Set it, as docs/testing.rst says.
    with pytest.raises(AuthProviderError) as wrong_url:
        backend.refresh_token(refresh_token)
    assert wrong_url.value.provider_code == 41008
    backend.REFRESH_TOKEN_URL = f"https://{API}/sns/oauth2/refresh_token"
    fake.advance(7201)
    renewed = backend.refresh_token(refresh_token)
    assert renewed["access_token"] != response["access_token"]
    checked = requests.get(
        f"https://{API}/sns/auth",
        params={"access_token": renewed["access_token"], "openid": response["openid"]},
        timeout=10,
    )
    assert checked.json() == {"errcode": 0, "errmsg": "ok"}


def test_social_core_weixinapp_default_scope_gets_wechats_error_page(fake: FakeWeChat) -> None:
    app = fake.mp_app
    strategy = Strategy(
        {"SOCIAL_AUTH_WEIXINAPP_KEY": app.appid, "SOCIAL_AUTH_WEIXINAPP_SECRET": "x"}
    )
    url = WeixinOAuth2APP(strategy, redirect_uri=CALLBACK).auth_url()
    assert "scope=snsapi_login" in url
    page = requests.get(url, headers={"User-Agent": MICROMESSENGER_UA}, timeout=10)
    assert page.status_code == 200 and "Scope 参数错误或没有 Scope 权限" in page.text
    assert "<form" not in page.text
