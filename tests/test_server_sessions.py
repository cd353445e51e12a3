"""Server-side sessions: Flask-Session on a real Redis server, renewed at login."""

from __future__ import annotations

import typing as t

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from flask_session import Session

from flask_wechat_web.testing import FakeWeChat

from .conftest import callback_path, make_app, redis_server, start_login


@pytest.fixture(scope="module")
def redis_url() -> t.Iterator[str]:
    """A Redis server of its own on a free loopback port, for this module."""
    with redis_server() as (url, _):
        yield url


@pytest.fixture
def server_side(fake_wechat: FakeWeChat, redis_url: str) -> t.Iterator[tuple[Flask, redis.Redis]]:
    store = redis.Redis.from_url(redis_url)
    store.flushdb()
    app, _ = make_app(fake_wechat, SESSION_TYPE="redis", SESSION_REDIS=store)
    Session(app)
    yield app, store
    store.close()


def session_id(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_login_renews_the_session_id_and_the_old_one_is_nobody(
    server_side: tuple[Flask, redis.Redis], fake_wechat: FakeWeChat
) -> None:
    app, store = server_side
    victim = app.test_client()
    authorize = start_login(victim, next="/private")
    before = session_id(victim)  # known, say, to whoever planted it
    assert store.exists(f"session:{before}")
    done = victim.get(callback_path(fake_wechat.approve(authorize)))
    assert (done.status_code, done.location) == (302, "/private")
    after = session_id(victim)
    assert after != before
    assert victim.get("/private").status_code == 200
    assert not store.exists(f"session:{before}")
    attacker = app.test_client()
    attacker.set_cookie("session", before)
    assert attacker.get("/").get_data(as_text=True) == "hello stranger"
    assert attacker.get("/private").status_code == 302  # to the login page


def test_pending_logins_in_several_tabs_complete_across_renewals(
    server_side: tuple[Flask, redis.Redis], fake_wechat: FakeWeChat
) -> None:
    app, _ = server_side
    client = app.test_client()
    tabs = [start_login(client, next=f"/tab{i}") for i in range(3)]
    ids = {session_id(client)}
    for i in (1, 0, 2):
        done = client.get(callback_path(fake_wechat.approve(tabs[i])))
        assert (done.status_code, done.location) == (302, f"/tab{i}")
        ids.add(session_id(client))
    assert len(ids) == 4  # a new id at each login
    assert client.get("/private").status_code == 200


def test_a_server_side_session_needs_no_secret_key(fake_wechat: FakeWeChat, redis_url: str) -> None:
    from flask_wechat_web import WeChatWeb

    app = Flask(__name__)
    store = redis.Redis.from_url(redis_url)
    app.config.update(TESTING=True, SESSION_TYPE="redis", SESSION_REDIS=store)
    app.config.update(fake_wechat.config())
    WeChatWeb(app)  # no SECRET_KEY: fine, Flask-Session is set up next
    Session(app)
    fake_wechat.configure(app)
    client = app.test_client()
    done = client.get(callback_path(fake_wechat.approve(start_login(client, next="/x"))))
    assert (done.status_code, done.location) == (302, "/x")
    store.close()
