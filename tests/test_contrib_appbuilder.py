"""The Flask-AppBuilder contrib: a real FAB site logs people in through the fake WeChat."""

from __future__ import annotations

import re
import typing as t
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_appbuilder import AppBuilder
from flask_appbuilder.security.manager import AUTH_OAUTH
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.utils.legacy import get_sqla_class

from flask_wechat_web.contrib.appbuilder import WeChatSecurityManagerMixin, wechat_provider
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, callback_path


class WeChatSecurityManager(WeChatSecurityManagerMixin, SecurityManager):  # type: ignore[misc]
    pass


def providers(fake: FakeWeChat) -> list[dict[str, t.Any]]:
    """The two WeChat providers, pointed at ``fake``: docs/appbuilder.rst's, but for the URLs."""
    config = fake.config()
    urls = {
        "open_base_url": config["WECHAT_WEB_OPEN_BASE_URL"],
        "api_base_url": config["WECHAT_WEB_API_BASE_URL"],
    }
    return [
        wechat_provider(fake.website_app.appid, fake.website_app.secret, **urls),
        wechat_provider(
            fake.mp_app.appid, fake.mp_app.secret, name="wechat_mp", in_wechat=True, **urls
        ),
    ]


def fab_app(
    fake: FakeWeChat,
    manager: type[SecurityManager] = WeChatSecurityManager,
    domain: str = "localhost",  # the test client's host
    **config: t.Any,
) -> Flask:
    """A small FAB site: SQLA on in-memory SQLite, OAuth with WeChat only, on ``domain``."""
    fake.set_domain(domain)
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="a test secret key",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        AUTH_TYPE=AUTH_OAUTH,
        AUTH_USER_REGISTRATION=True,
        # A role of its own that may see its own user page, as a site would give.
        FAB_ROLES={"WeChat": [["UserOAuthModelView", "can_userinfo"]]},
        AUTH_USER_REGISTRATION_ROLE="WeChat",
        OAUTH_PROVIDERS=providers(fake),
    )
    app.config.update(config)
    db = get_sqla_class()()
    db.init_app(app)
    with app.app_context():
        AppBuilder(app, db.session, security_manager_class=manager)
    return app


@pytest.fixture
def fab(fake_wechat: FakeWeChat) -> Flask:
    return fab_app(fake_wechat)


def start(client: FlaskClient, provider: str = "wechat", **headers: str) -> str:
    """Press the provider's button (FAB's page sends the browser here); WeChat's URL."""
    response = client.get(f"/login/{provider}?next=/users/userinfo/", headers=headers)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.location


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def flashed(client: FlaskClient) -> str:
    """The page the browser lands on after a refusal, with its flashed message."""
    return client.get("/login/").get_data(as_text=True)


def user_named(app: Flask, username: str) -> tuple[str, list[str]] | None:
    """The first name and roles of FAB's user ``username``, if there is one."""
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        return None if user is None else (user.first_name, [role.name for role in user.roles])


def test_login_page_offers_wechat(fab: Flask) -> None:
    page = fab.test_client().get("/login/").get_data(as_text=True)
    assert 'id="btn-signin-wechat"' in page
    assert "fa-weixin" in page


def test_qr_login_registers_and_logs_in(fab: Flask, fake_wechat: FakeWeChat) -> None:
    client = fab.test_client()
    url = start(client)
    assert "/connect/qrconnect?" in url
    assert re.fullmatch(r"[A-Za-z0-9]{1,128}", state_of(url))
    response = client.get(callback_path(fake_wechat.approve(url)))
    assert response.status_code == 302
    assert response.location == "/users/userinfo/"
    page = client.get("/users/userinfo/")
    assert page.status_code == 200
    assert fake_wechat.user.nickname in page.get_data(as_text=True)
    user = user_named(fab, f"wechat_{fake_wechat.unionid(fake_wechat.user)}")
    assert user == (fake_wechat.user.nickname, ["WeChat"])


def test_in_wechat_login_is_the_same_user(fab: Flask, fake_wechat: FakeWeChat) -> None:
    """In WeChat's browser the WeChat button takes the Official Account's page: one unionid."""
    for headers in ({}, {"User-Agent": MICROMESSENGER_UA}):
        client = fab.test_client()
        url = start(client, **headers)
        response = client.get(callback_path(fake_wechat.approve(url)), headers=headers)
        assert response.location == "/users/userinfo/"
    assert "/connect/oauth2/authorize?" in url
    with fab.app_context():
        users = fab.appbuilder.sm.get_all_users()
        assert [u.username for u in users] == [f"wechat_{fake_wechat.unionid(fake_wechat.user)}"]


def test_the_in_wechat_button_outside_wechat_takes_the_qr_page(fab: Flask) -> None:
    assert "/connect/qrconnect?" in start(fab.test_client(), "wechat_mp")


# FAB's own key for its JWT is 30 characters, which PyJWT warns about.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_fabs_own_state_is_refused_by_the_official_account(fake_wechat: FakeWeChat) -> None:
    """Why the contrib exists: FAB's own view sends a JWT, which WeChat's page refuses."""
    app = fab_app(fake_wechat, manager=SecurityManager)
    url = start(app.test_client(), "wechat_mp", **{"User-Agent": MICROMESSENGER_UA})
    assert "." in state_of(url)  # a JWT
    with pytest.raises(ValueError, match="state"):
        fake_wechat.approve(url)


@pytest.mark.parametrize("change", ["forged", "missing", "other browser", "replayed"])
def test_a_bad_state_is_refused(fab: Flask, fake_wechat: FakeWeChat, change: str) -> None:
    client = fab.test_client()
    callback = callback_path(fake_wechat.approve(start(client)))
    state = state_of(callback)
    if change == "forged":
        callback = callback.replace(state, "A" * 32)
    elif change == "missing":
        callback = callback.replace(f"state={state}", "")
    elif change == "other browser":
        client = fab.test_client()
    else:
        assert client.get(callback).location == "/users/userinfo/"
        client.get("/logout/")
    response = client.get(callback)
    assert response.status_code == 302
    assert response.location == "/login/"
    assert "Invalid state" in flashed(client)
    assert client.get("/users/userinfo/").status_code == 302  # not logged in


def test_a_code_wechat_refuses_is_a_message(fab: Flask, fake_wechat: FakeWeChat) -> None:
    client = fab.test_client()
    callback = callback_path(fake_wechat.approve(start(client)))
    fake_wechat.advance(3600)  # the code expired
    response = client.get(callback)
    assert (response.status_code, response.location) == (302, "/login/")
    assert "denied" in flashed(client)


def test_a_denial_is_a_message(fab: Flask, fake_wechat: FakeWeChat) -> None:
    client = fab.test_client()
    response = client.get(callback_path(fake_wechat.deny(start(client))))
    assert (response.status_code, response.location) == (302, "/login/")
    assert "denied" in flashed(client)


def test_no_registration_refuses_a_stranger(fake_wechat: FakeWeChat) -> None:
    app = fab_app(fake_wechat, AUTH_USER_REGISTRATION=False)
    client = app.test_client()
    response = client.get(callback_path(fake_wechat.approve(start(client))))
    assert response.location == "/login/"
    assert user_named(app, f"wechat_{fake_wechat.unionid(fake_wechat.user)}") is None


def test_without_unionid_the_openid_names_the_user(fab: Flask, fake_wechat: FakeWeChat) -> None:
    fake_wechat.website_app.bound = False
    client = fab.test_client()
    client.get(callback_path(fake_wechat.approve(start(client))))
    openid = fake_wechat.openid(fake_wechat.user, fake_wechat.website_app.appid)
    assert user_named(fab, f"wechat_{openid}") is not None


def test_a_snsapi_base_login_has_no_profile(fake_wechat: FakeWeChat) -> None:
    """``snsapi_base`` gives neither profile nor unionid: the openid names the user."""
    fake = fake_wechat
    provider = wechat_provider(
        fake.mp_app.appid,
        fake.mp_app.secret,
        in_wechat=True,
        scope="snsapi_base",
        open_base_url=fake.config()["WECHAT_WEB_OPEN_BASE_URL"],
        api_base_url=fake.config()["WECHAT_WEB_API_BASE_URL"],
    )
    app = fab_app(fake, OAUTH_PROVIDERS=[provider])
    client = app.test_client()
    ua = {"User-Agent": MICROMESSENGER_UA}
    client.get(callback_path(fake.approve(start(client, **ua))), headers=ua)
    openid = fake.openid(fake.user, fake.mp_app.appid)
    assert user_named(app, f"wechat_{openid}") == ("WeChat", ["WeChat"])


def test_a_wrong_scope_is_refused() -> None:
    with pytest.raises(ValueError, match="snsapi_login"):
        wechat_provider("wx0123456789abcdef", "s" * 32, scope="snsapi_userinfo")
