"""Tokens kept and used: the session, SQLAlchemy on SQLite and PostgreSQL, refresh."""

from __future__ import annotations

import contextlib
import threading
import time
import typing as t

import pytest
from flask import Flask, jsonify
from flask.testing import FlaskClient
from flask_login import current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_wechat_web import (
    SQLAlchemyStorage,
    TokenExpiredError,
    WeChatIdentity,
    WeChatWeb,
)
from flask_wechat_web.sqla import WeChatAccountMixin
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, log_in, make_app, stored_token


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))

    is_active = True
    is_authenticated = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)


class WeChatAccount(WeChatAccountMixin, db.Model):  # type: ignore[name-defined,misc]
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id))
    user: Mapped[User] = relationship()


def add_profile_route(app: Flask, wechat: WeChatWeb) -> None:
    @app.route("/profile")
    @login_required
    def profile() -> t.Any:
        try:
            response = wechat.remote.get("sns/userinfo", params={"lang": "en"})
        except TokenExpiredError as error:
            return str(error), 401
        return jsonify(response.json())

    @app.route("/token")
    def token() -> t.Any:
        try:
            return jsonify(wechat.token)
        except TokenExpiredError as error:
            return str(error), 401


@contextlib.contextmanager
def site_with_users(fake: FakeWeChat, database_url: str) -> t.Iterator[tuple[Flask, WeChatWeb]]:
    """A site with its own users, linked to WeChat as the docs show."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="k",
        SQLALCHEMY_DATABASE_URI=database_url,
        **fake.config(),
    )
    db.init_app(app)
    storage = SQLAlchemyStorage(db, WeChatAccount)
    wechat = WeChatWeb(app, storage=storage)
    fake.configure(app)

    @app.login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id))

    @wechat.user_handler
    def user_for(identity: WeChatIdentity) -> User:
        if current_user.is_authenticated:  # linking WeChat to the account in use
            return t.cast(User, current_user._get_current_object())
        user = storage.find_user(identity)
        if user is None:
            user = User(name=identity.nickname or "WeChat user")
            db.session.add(user)
            db.session.commit()
        return t.cast(User, user)

    @app.route("/password-login/<name>")
    def password_login(name: str) -> str:
        user = User(name=name)
        db.session.add(user)
        db.session.commit()
        login_user(user)
        return "ok"

    add_profile_route(app, wechat)
    with app.app_context():
        db.create_all()
    try:
        yield app, wechat
    finally:
        with app.app_context():
            db.drop_all()
            db.engine.dispose()


def _database_url(request: pytest.FixtureRequest, kind: str, tmp_path: t.Any) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/wechat.db"
    return t.cast(str, request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def sqla_app(
    request: pytest.FixtureRequest, fake_wechat: FakeWeChat, tmp_path: t.Any
) -> t.Iterator[tuple[Flask, WeChatWeb]]:
    with site_with_users(fake_wechat, _database_url(request, request.param, tmp_path)) as site:
        yield site


@pytest.fixture(params=["session", "sqlite", "postgresql"])
def any_storage_app(
    request: pytest.FixtureRequest, fake_wechat: FakeWeChat, tmp_path: t.Any
) -> t.Iterator[Flask]:
    if request.param == "session":
        app, wechat = make_app(fake_wechat)
        add_profile_route(app, wechat)
        yield app
        return
    with site_with_users(fake_wechat, _database_url(request, request.param, tmp_path)) as site:
        yield site[0]


def same_user_at_once(app: Flask, client: FlaskClient, path: str, n: int = 8) -> list[t.Any]:
    """``n`` requests to ``path`` at the same moment, each carrying ``client``'s cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    responses: list[t.Any] = []
    barrier = threading.Barrier(n)

    def request() -> None:
        browser = app.test_client()
        browser.set_cookie("session", cookie.value)
        barrier.wait()
        responses.append(browser.get(path))

    threads = [threading.Thread(target=request) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def set_stored_expiry(app: Flask, expires_at: int) -> str:
    """Make the one stored token expire at ``expires_at``; its access token."""
    with app.app_context():
        account = db.session.scalars(db.select(WeChatAccount)).one()
        account.expires_at = expires_at
        db.session.commit()
        return t.cast(str, account.access_token)


def rows(app: Flask) -> tuple[list[User], list[WeChatAccount]]:
    with app.app_context():
        return (
            list(db.session.scalars(db.select(User))),
            list(db.session.scalars(db.select(WeChatAccount))),
        )


def test_session_storage_keeps_a_small_token(
    app: Flask, client: FlaskClient, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    with app.test_request_context():
        assert wechat.token is None
    log_in(client, fake_wechat)
    token = stored_token(client)
    assert set(token) == {
        "access_token",
        "refresh_token",
        "expires_at",
        "openid",
        "unionid",
        "scope",
        "appid",
    }
    cookie = client.get_cookie("session")
    assert cookie is not None and len(cookie.value) < 2000


def test_login_stores_a_row_and_logout_clears_its_tokens(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, _ = sqla_app
    client = app.test_client()
    response, _ = log_in(client, fake_wechat, next="/token")
    assert response.location == "/token"
    token = client.get("/token").get_json()
    users, accounts = rows(app)
    assert [u.name for u in users] == [fake_wechat.user.nickname]
    [account] = accounts
    assert (account.appid, account.openid) == (token["appid"], token["openid"])
    assert account.unionid == fake_wechat.unionid(fake_wechat.user)
    assert account.access_token == token["access_token"] and account.expires_at
    assert account.user_id == users[0].id
    client.post("/wechat/logout")
    [account] = rows(app)[1]
    assert account.access_token is None and account.refresh_token is None
    assert account.user_id == users[0].id  # the link stays
    # Logging in again finds the same user.
    log_in(client, fake_wechat)
    assert len(rows(app)[0]) == 1
    assert client.get("/token").get_json()["access_token"]


def test_either_openid_of_one_unionid_finds_the_same_user(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, _ = sqla_app
    log_in(app.test_client(), fake_wechat)
    log_in(app.test_client(), fake_wechat, ua=MICROMESSENGER_UA)
    users, accounts = rows(app)
    assert len(users) == 1 and len(accounts) == 2
    assert {a.appid for a in accounts} == {
        fake_wechat.website_app.appid,
        fake_wechat.mp_app.appid,
    }
    assert accounts[0].openid != accounts[1].openid
    assert {a.user_id for a in accounts} == {users[0].id}


def test_logged_in_user_links_wechat_to_the_existing_account(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, _ = sqla_app
    client = app.test_client()
    client.get("/password-login/bob")
    log_in(client, fake_wechat)
    users, accounts = rows(app)
    assert [u.name for u in users] == ["bob"]
    assert accounts[0].user_id == users[0].id
    # Another browser, the Official Account: same unionid, so bob again.
    other = app.test_client()
    log_in(other, fake_wechat, ua=MICROMESSENGER_UA)
    users, accounts = rows(app)
    assert [u.name for u in users] == ["bob"] and len(accounts) == 2


def test_expired_access_token_is_refreshed_once_and_stored(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, _ = sqla_app
    client = app.test_client()
    log_in(client, fake_wechat)
    old_access = set_stored_expiry(app, 1000)  # long past
    token = client.get("/token").get_json()
    assert fake_wechat.calls["refresh_token"] == 1
    assert token["expires_at"] > 1000
    assert token["access_token"] == old_access  # still live at WeChat: extended
    [account] = rows(app)[1]
    assert account.expires_at == token["expires_at"]
    assert account.refresh_token == token["refresh_token"]
    assert account.unionid == fake_wechat.unionid(fake_wechat.user)
    assert client.get("/profile").status_code == 200
    assert fake_wechat.calls["refresh_token"] == 1


def test_token_rejected_by_wechat_is_refreshed_and_the_call_retried(
    any_storage_app: Flask, fake_wechat: FakeWeChat
) -> None:
    app = any_storage_app
    client = app.test_client()
    log_in(client, fake_wechat)
    first = client.get("/token").get_json()
    fake_wechat.advance(7201)  # WeChat now answers 42001 to the stored token
    response = client.get("/profile")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["nickname"] == fake_wechat.user.nickname
    assert fake_wechat.calls["refresh_token"] == 1
    assert fake_wechat.calls["userinfo"] == 3  # login, rejected, retried
    second = client.get("/token").get_json()
    assert second["access_token"] != first["access_token"]
    assert client.get("/profile").status_code == 200
    assert fake_wechat.calls["refresh_token"] == 1


def test_dead_refresh_token_means_log_in_again(
    any_storage_app: Flask, fake_wechat: FakeWeChat
) -> None:
    app = any_storage_app
    client = app.test_client()
    log_in(client, fake_wechat)
    fake_wechat.advance(31 * 86400)
    response = client.get("/profile")
    assert response.status_code == 401
    assert "log in" in response.get_data(as_text=True)
    assert client.get("/token").get_json() is None  # dropped


def test_concurrent_refreshes_lose_no_token(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = sqla_app
    client = app.test_client()
    log_in(client, fake_wechat)
    fake_wechat.advance(7201)
    responses = same_user_at_once(app, client, "/profile")
    assert [response.status_code for response in responses] == [200] * 8
    assert fake_wechat.calls["refresh_token"] == 1
    [account] = rows(app)[1]
    with app.test_request_context():
        assert wechat.check_token({"access_token": account.access_token, "openid": account.openid})


def test_sqlalchemy_storage_needs_the_sites_user_model(
    fake_wechat: FakeWeChat, tmp_path: t.Any
) -> None:
    app, _ = make_app(
        fake_wechat,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/w.db",
    )
    db.init_app(app)
    app.extensions["wechat_web"].extension.storage = SQLAlchemyStorage(db, WeChatAccount)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    response, _ = log_in(client, fake_wechat)  # the built-in WeChatUser
    assert response.status_code == 500  # the site's bug, not WeChat's
    assert "user_handler" in response.get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == "hello stranger"
    with app.app_context():
        db.engine.dispose()


def test_handler_may_return_current_user_itself(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = sqla_app
    wechat.user_handler(lambda identity: current_user)  # the proxy, not the user
    client = app.test_client()
    client.get("/password-login/carol")
    response, _ = log_in(client, fake_wechat)
    assert response.status_code == 302
    users, accounts = rows(app)
    assert [u.name for u in users] == ["carol"] and accounts[0].user_id == users[0].id


def test_concurrent_refreshes_of_a_token_about_to_expire_refresh_once(
    sqla_app: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    """In its last minute a token is refreshed early; WeChat extends the same token."""
    app, _ = sqla_app
    client = app.test_client()
    log_in(client, fake_wechat)
    old_access = set_stored_expiry(app, int(time.time()) + 30)  # inside the 60 s leeway
    tokens = [response.get_json() for response in same_user_at_once(app, client, "/token")]
    assert fake_wechat.calls["refresh_token"] == 1
    assert {token["access_token"] for token in tokens} == {old_access}  # extended, not new
    assert min(token["expires_at"] for token in tokens) > time.time() + 3600
