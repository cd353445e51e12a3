"""Sign in with WeChat on a real Flask-Security-Too site, against the fake WeChat."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit

import pytest

pytest.importorskip("flask_security")

from flask import Flask
from flask.testing import FlaskClient
from flask_login import current_user
from flask_security import Security, SQLAlchemyUserDatastore
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

from flask_wechat_web import WeChatIdentity
from flask_wechat_web.contrib.flask_security import WeChatProvider
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, callback_path

db = SQLAlchemy()
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
    pass


class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
    #: The WeChat key: unionid when WeChat gives one, else openid.
    wechat_id = db.Column(db.String(64), unique=True)
    nickname = db.Column(db.String(100))


def make_fs_app(
    fake: FakeWeChat,
    create_user: t.Callable[[WeChatIdentity], t.Any] | None = None,
    **config: t.Any,
) -> Flask:
    """A small Flask-Security site with WeChat sign-in, pointed at ``fake``."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="a test secret key",
        SECURITY_PASSWORD_SALT="a test salt",
        SECURITY_PASSWORD_HASH="pbkdf2_sha512",
        SECURITY_OAUTH_ENABLE=True,
        SECURITY_OAUTH_BUILTIN_PROVIDERS=[],
        SECURITY_TRACKABLE=True,
        SQLALCHEMY_DATABASE_URI="sqlite://",
        WTF_CSRF_ENABLED=False,
        **fake.config(),
    )
    app.config.update(config)
    fake.configure(app)
    db.init_app(app)
    datastore = SQLAlchemyUserDatastore(db, User, Role)
    security = Security(app, datastore)
    provider = WeChatProvider("wechat", config=app.config, create_user=create_user)
    security.oauthglue.register_provider_ext(provider)
    app.register_blueprint(provider.link_blueprint)

    @app.route("/")
    def index() -> str:
        who = current_user.email if current_user.is_authenticated else "stranger"
        return f"hello {who}"

    with app.app_context():
        db.create_all()
        datastore.create_user(email="alice@example.com", password=None)
        datastore.create_user(email="bob@example.com", password=None)
        db.session.commit()
    return app


def start(client: FlaskClient, **headers: str) -> str:
    """Press "Continue with wechat" on Flask-Security's login page: WeChat's authorize URL."""
    page = client.get("/login").get_data(as_text=True)
    action = re.search(r'formaction="([^"]+)"', page)
    assert action is not None and "oauthstart/wechat" in action.group(1), page
    response = client.post(action.group(1), headers=headers)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.location


def user(app: Flask, email: str) -> t.Any:
    with app.app_context():
        return db.session.scalar(db.select(User).filter_by(email=email))


def link(app: Flask, email: str, key: str) -> None:
    with app.app_context():
        found = db.session.scalar(db.select(User).filter_by(email=email))
        found.wechat_id = key
        db.session.commit()


def flashes(client: FlaskClient) -> list[str]:
    with client.session_transaction() as session:
        return [message for _, message in session.get("_flashes", [])]


def test_login_page_offers_wechat_and_logs_the_linked_user_in(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    link(app, "alice@example.com", fake_wechat.unionid(fake_wechat.user))
    client = app.test_client()
    authorize = start(client)
    assert urlsplit(authorize).path == "/connect/qrconnect"
    response = client.get(callback_path(fake_wechat.approve(authorize)))
    assert response.status_code == 302
    assert client.get("/").get_data(as_text=True) == "hello alice@example.com"
    alice = user(app, "alice@example.com")
    # Flask-Security's own login_user ran: its tracking fields.
    assert alice.login_count == 1
    assert alice.current_login_at is not None


def test_in_wechat_uses_the_official_account(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    link(app, "bob@example.com", fake_wechat.unionid(fake_wechat.user))
    client = app.test_client()
    authorize = start(client, **{"User-Agent": MICROMESSENGER_UA})
    assert urlsplit(authorize).path == "/connect/oauth2/authorize"
    assert f"appid={fake_wechat.mp_app.appid}" in authorize
    client.get(callback_path(fake_wechat.approve(authorize)))
    # The same person through either app: one unionid, one user.
    assert client.get("/").get_data(as_text=True) == "hello bob@example.com"


def test_stranger_is_refused_with_a_clear_message(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    client = app.test_client()
    response = client.get(callback_path(fake_wechat.approve(start(client))))
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    [message] = flashes(client)
    assert "No account here is linked to this WeChat account" in message
    # Neither id is shown to the person.
    assert fake_wechat.unionid(fake_wechat.user) not in message
    assert client.get("/").get_data(as_text=True) == "hello stranger"


def test_stranger_is_created_by_the_site_hook(fake_wechat: FakeWeChat) -> None:
    def create_user(identity: WeChatIdentity) -> t.Any:
        datastore = SQLAlchemyUserDatastore(db, User, Role)
        return datastore.create_user(
            email=f"{identity.openid}@example.com", nickname=identity.nickname
        )

    app = make_fs_app(fake_wechat, create_user=create_user)
    client = app.test_client()
    client.get(callback_path(fake_wechat.approve(start(client))))
    with app.app_context():
        created = db.session.scalar(
            db.select(User).filter_by(wechat_id=fake_wechat.unionid(fake_wechat.user))
        )
        assert created is not None
        assert created.nickname == fake_wechat.user.nickname
        assert client.get("/").get_data(as_text=True) == f"hello {created.email}"


def test_denied_consent_says_so(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    client = app.test_client()
    response = client.get(callback_path(fake_wechat.deny(start(client))))
    assert urlsplit(response.location).path == "/login"
    assert flashes(client) == ["The WeChat login was cancelled."]


def test_a_code_spent_twice_is_refused_without_a_500(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    link(app, "alice@example.com", fake_wechat.unionid(fake_wechat.user))
    client = app.test_client()
    callback = callback_path(fake_wechat.approve(start(client)))
    fake_wechat.calls.clear()
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    authorize = start(other)
    # The first browser's code, under the second browser's own state.
    state = re.search(r"state=([^&#]+)", authorize)
    assert state is not None
    code = re.search(r"code=([^&]+)", callback)
    assert code is not None
    assert client.get(callback).status_code == 302
    response = other.get(f"/login/oauthresponse/wechat?code={code.group(1)}&state={state.group(1)}")
    assert response.status_code == 302
    [message] = flashes(other)
    assert "A login link works once" in message
    assert fake_wechat.website_app.secret not in message
    assert other.get("/").get_data(as_text=True) == "hello stranger"


def test_linking_while_logged_in(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    link(app, "alice@example.com", "someone-else")
    client = app.test_client()
    _log_in_by_password(app, client, "bob@example.com")
    response = client.post("/login/wechat/link")
    assert response.status_code == 302
    client.get(callback_path(fake_wechat.approve(response.location)))
    assert flashes(client) == ["WeChat is linked: you can sign in with it."]
    assert user(app, "bob@example.com").wechat_id == fake_wechat.unionid(fake_wechat.user)
    # Now Bob signs in with WeChat alone.
    client.post("/logout")
    fresh = app.test_client()
    fresh.get(callback_path(fake_wechat.approve(start(fresh))))
    assert fresh.get("/").get_data(as_text=True) == "hello bob@example.com"


def test_linking_an_account_linked_to_another_user_is_refused(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    link(app, "alice@example.com", fake_wechat.unionid(fake_wechat.user))
    client = app.test_client()
    _log_in_by_password(app, client, "bob@example.com")
    response = client.post("/login/wechat/link")
    client.get(callback_path(fake_wechat.approve(response.location)))
    assert flashes(client) == ["This WeChat account is already linked to another account."]
    assert user(app, "bob@example.com").wechat_id is None


def test_linking_needs_a_login(fake_wechat: FakeWeChat) -> None:
    app = make_fs_app(fake_wechat)
    response = app.test_client().post("/login/wechat/link")
    assert response.status_code == 302
    assert urlsplit(response.location).path == "/login"


def _log_in_by_password(app: Flask, client: FlaskClient, email: str) -> None:
    """Give ``email`` a password and log in with Flask-Security's own form."""
    from flask_security import hash_password

    with app.app_context():
        found = db.session.scalar(db.select(User).filter_by(email=email))
        found.password = hash_password("a long test password")
        db.session.commit()
    response = client.post("/login", data={"email": email, "password": "a long test password"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == f"hello {email}"
