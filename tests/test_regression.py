"""Structural figures that must never regress (not timed: see benchmarks/)."""

from __future__ import annotations

import typing as t

import pytest
import requests
import urllib3
from flask import Flask
from flask.testing import FlaskClient

from flask_wechat_web import WeChatIdentity, pages
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, log_in, make_app


class Member:
    is_active = is_authenticated = True
    is_anonymous = False

    def __init__(self, key: str) -> None:
        self.key = key

    def get_id(self) -> str:
        return self.key


def calls(fake: FakeWeChat) -> tuple[int, int]:
    return fake.calls["access_token"], fake.calls["userinfo"]


@pytest.mark.parametrize(
    ("scope", "ua", "expected"),
    [
        ("snsapi_login", "Mozilla/5.0", (1, 1)),
        ("snsapi_userinfo", MICROMESSENGER_UA, (1, 1)),
        ("snsapi_base", MICROMESSENGER_UA, (1, 0)),
    ],
)
def test_calls_per_login(
    fake_wechat: FakeWeChat, scope: str, ua: str, expected: tuple[int, int]
) -> None:
    config = {"WECHAT_WEB_MP_SCOPE": scope} if scope != "snsapi_login" else {}
    app, _ = make_app(fake_wechat, **config)
    for login in range(1, 4):
        response, _ = log_in(app.test_client(), fake_wechat, ua=ua)
        assert response.status_code == 302
        assert calls(fake_wechat) == (expected[0] * login, expected[1] * login)


def test_returning_user_needs_only_the_token_call(fake_wechat: FakeWeChat) -> None:
    app, wechat = make_app(fake_wechat)
    members: dict[str, Member] = {}

    @wechat.user_handler
    def find(identity: WeChatIdentity) -> Member:
        key = identity.unionid or identity.openid
        if key not in members:
            identity.nickname  # noqa: B018 - a new member: the profile, once
            members[key] = Member(key)
        return members[key]

    app.login_manager.user_loader(members.get)
    log_in(app.test_client(), fake_wechat)
    assert calls(fake_wechat) == (1, 1)
    for login in range(2, 5):
        log_in(app.test_client(), fake_wechat)
        assert calls(fake_wechat) == (login, 1)


def test_no_new_connection_after_the_first_login(app: Flask, fake_wechat: FakeWeChat) -> None:
    log_in(app.test_client(), fake_wechat)
    log_in(app.test_client(), fake_wechat, ua=MICROMESSENGER_UA)  # the other app, same host
    warm = fake_wechat.server.api_connections
    assert warm == 1
    for ua in ("Mozilla/5.0", MICROMESSENGER_UA) * 5:
        log_in(app.test_client(), fake_wechat, ua=ua)
    assert fake_wechat.server.api_connections == warm


def record_calls(
    monkeypatch: pytest.MonkeyPatch, owner: t.Any, name: str
) -> list[tuple[t.Any, ...]]:
    """The arguments of every call of ``owner.name`` from now on."""
    seen: list[tuple[t.Any, ...]] = []
    original = getattr(owner, name)

    def recording(*args: t.Any, **kwargs: t.Any) -> t.Any:
        seen.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return seen


def test_no_requests_session_per_call_after_warm_up(
    app: Flask, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    for ua in ("Mozilla/5.0", MICROMESSENGER_UA):  # both apps, each with its session
        log_in(app.test_client(), fake_wechat, ua=ua)
    created = record_calls(monkeypatch, requests.Session, "__init__")
    for ua in ("Mozilla/5.0", MICROMESSENGER_UA) * 3:
        response, _ = log_in(app.test_client(), fake_wechat, ua=ua)
        assert response.status_code == 302
    assert calls(fake_wechat) == (8, 8)
    assert created == []


def test_no_typing_protocol_check_per_call(
    app: Flask, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests 2.34 checks params and headers against typing protocols, which
    cost 6% of a login's instructions on Python 3.11; the calls avoid them."""
    log_in(app.test_client(), fake_wechat)
    checked = record_calls(monkeypatch, type(t.Protocol), "__instancecheck__")
    for ua in ("Mozilla/5.0", MICROMESSENGER_UA):
        response, _ = log_in(app.test_client(), fake_wechat, ua=ua)
        assert response.status_code == 302
    assert calls(fake_wechat) == (3, 3)
    assert checked == []


def test_connection_pool_looked_up_once_per_host(
    app: Flask, fake_wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_in(app.test_client(), fake_wechat)
    lookups = record_calls(monkeypatch, urllib3.PoolManager, "connection_from_host")
    for _ in range(3):
        log_in(app.test_client(), fake_wechat)
    assert calls(fake_wechat) == (4, 4)
    assert lookups == []


def test_routes_outside_the_blueprint_never_call_wechat(
    app: Flask, client: FlaskClient, fake_wechat: FakeWeChat
) -> None:
    log_in(client, fake_wechat)
    before = dict(fake_wechat.calls), fake_wechat.server.api_connections
    for _ in range(10):
        assert client.get("/").status_code == 200
        assert client.get("/private").status_code == 200
    assert (dict(fake_wechat.calls), fake_wechat.server.api_connections) == before


def test_no_hook_of_ours_works_on_other_routes(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks: list[t.Callable[..., t.Any]] = []
    for registry in (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.url_value_preprocessors,
    ):
        hooks += registry.get(None, [])
    # Two app-wide hooks only. Werkzeug answers some requests (the 308 of merged
    # slashes, which repeats a code) before any hook of the blueprint runs; and
    # Flask-WTF's CSRFProtect, an app-wide hook made before or after us, must
    # let the JSON logins through. On a request routed to the site's own view
    # each checks one attribute, nothing more.
    ours = [hook for hook in hooks if hook.__module__.startswith("flask_wechat_web")]
    assert sorted(ours, key=repr) == sorted(
        [pages.csrf_exemptions, pages.private_routing_answers], key=repr
    )
    looked = record_calls(monkeypatch, pages, "_under_blueprint")
    exempted = record_calls(monkeypatch, pages, "_exempt")
    for path in ("/", "/private", "/?code=CODE1234"):
        response = client.get(path)
        assert "Cache-Control" not in response.headers
    assert looked == [] and exempted == []
