"""Setting up the extension: config, app factories, several apps, Flask-Login."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string
from flask_login import LoginManager

from flask_wechat_web import ConfigurationError, WeChatWeb
from flask_wechat_web.testing import FakeWeChat

from .conftest import callback_path, make_app, query_of, start_login

SECRET = "0123456789abcdef0123456789abcdef"


def bare_app(**config: object) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="k", WECHAT_WEB_APPID="wx0123456789abcdef", WECHAT_WEB_SECRET=SECRET
    )
    app.config.update(config)
    return app


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WECHAT_WEB_APPID", None),
        ("WECHAT_WEB_APPID", "0123456789abcdef"),
        ("WECHAT_WEB_APPID", "wx0123"),
        ("WECHAT_WEB_SECRET", None),
        ("WECHAT_WEB_SECRET", "too-short"),
        ("WECHAT_WEB_SECRET", SECRET + "x"),
    ],
)
def test_missing_or_malformed_credentials_fail_at_init_app(key: str, value: object) -> None:
    app = bare_app()
    if value is None:
        del app.config[key]
    else:
        app.config[key] = value
    with pytest.raises(ConfigurationError, match=key) as info:
        WeChatWeb(app)
    assert SECRET not in str(info.value)
    assert "wechat_web" not in app.extensions


def test_secret_pasted_into_the_appid_key_is_not_echoed() -> None:
    app = bare_app(WECHAT_WEB_APPID=SECRET)
    with pytest.raises(ConfigurationError) as info:
        WeChatWeb(app)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("WECHAT_WEB_SCOPE", "snsapi_userinfo"),
        ("WECHAT_WEB_MP_SCOPE", "snsapi_login"),
        ("WECHAT_WEB_LANG", "fr"),
        ("WECHAT_WEB_TIMEOUT", 0),
        ("WECHAT_WEB_STATE_TTL", -1),
        ("WECHAT_WEB_URL_PREFIX", "wechat"),
        ("WECHAT_WEB_API_BASE_URL", "api.weixin.qq.com"),
        ("WECHAT_WEB_MP_SECRET", None),
        ("SESSION_COOKIE_SAMESITE", "Strict"),
    ],
)
def test_other_settings_are_checked(key: str, value: object) -> None:
    app = bare_app(**{key: value})
    if key == "WECHAT_WEB_MP_SECRET":  # an Official Account AppID without its secret
        app.config["WECHAT_WEB_MP_APPID"] = "wx0123456789abcdee"
    with pytest.raises(ConfigurationError, match=key):
        WeChatWeb(app)


def test_defaults_are_applied() -> None:
    app = bare_app()
    WeChatWeb(app)
    assert app.config["WECHAT_WEB_SCOPE"] == "snsapi_login"
    assert app.config["WECHAT_WEB_MP_SCOPE"] == "snsapi_userinfo"
    assert app.config["WECHAT_WEB_LANG"] == "zh_CN"
    assert app.config["WECHAT_WEB_URL_PREFIX"] == "/wechat"
    assert app.config["WECHAT_WEB_TIMEOUT"] == 5
    assert app.config["WECHAT_WEB_STATE_TTL"] == 600
    assert app.config["WECHAT_WEB_API_BASE_URL"] == "https://api.weixin.qq.com"
    assert app.config["WECHAT_WEB_OPEN_BASE_URL"] == "https://open.weixin.qq.com"
    assert app.url_map.bind("localhost").match("/wechat/authorized")[0] == "wechat.authorized"


def test_one_extension_serves_several_apps(fake_wechat: FakeWeChat) -> None:
    wechat = WeChatWeb()
    apps = []
    for prefix in ("/wechat", "/login/wechat"):
        app = Flask(__name__)
        app.config.update(
            TESTING=True, SECRET_KEY="k", WECHAT_WEB_URL_PREFIX=prefix, **fake_wechat.config()
        )
        wechat.init_app(app)
        fake_wechat.configure(app)
        apps.append(app)
    assert apps[0].extensions["wechat_web"] is not apps[1].extensions["wechat_web"]
    assert not hasattr(wechat, "app")
    for app, prefix in zip(apps, ("/wechat", "/login/wechat"), strict=True):
        client = app.test_client()
        location = client.get(f"{prefix}/login").location
        response = client.get(callback_path(fake_wechat.approve(location)))
        assert response.status_code == 302


def test_init_app_twice_is_refused() -> None:
    app = bare_app()
    wechat = WeChatWeb(app)
    with pytest.raises(RuntimeError, match="already registered"):
        wechat.init_app(app)


def test_url_prefix_argument_wins() -> None:
    app = bare_app()
    WeChatWeb(app, url_prefix="/sso/wechat")
    assert app.url_map.bind("localhost").match("/sso/wechat/login")[0] == "wechat.login"


def test_login_manager_created_or_kept() -> None:
    app = bare_app()
    WeChatWeb(app)
    assert isinstance(app.login_manager, LoginManager)
    assert app.login_manager.login_view == "wechat.login"

    app = bare_app()
    manager = LoginManager(app)
    manager.login_view = "accounts.login"
    WeChatWeb(app)
    assert app.login_manager is manager
    assert manager.login_view == "accounts.login"


def test_site_user_loader_is_kept() -> None:
    app = bare_app()
    manager = LoginManager(app)

    @manager.user_loader
    def load(user_id: str) -> None:
        return None

    WeChatWeb(app)
    assert manager._user_callback is load


def test_login_url_and_jinja_global(app: Flask) -> None:
    wechat = app.extensions["wechat_web"].extension
    with app.test_request_context():
        assert wechat.login_url() == "/wechat/login"
        assert query_of(wechat.login_url(next="/a?b=c")) == {"next": ["/a?b=c"]}
        html = render_template_string("{{ wechat_login_url(next='/x') }}")
        assert html.startswith("/wechat/login?") and query_of(html) == {"next": ["/x"]}


def test_sandbox_refuses_outside_debug_and_testing() -> None:
    app = bare_app(WECHAT_WEB_SANDBOX=True)
    with pytest.raises(ConfigurationError, match="WECHAT_WEB_SANDBOX"):
        WeChatWeb(app)


def test_sandbox_login_works_with_no_credentials() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", WECHAT_WEB_SANDBOX=True)
    WeChatWeb(app)
    client = app.test_client()
    location = start_login(client)
    assert location.startswith("/_wechat_sandbox/connect/qrconnect?")
    page = client.get(location)
    assert page.status_code == 200
    assert "的身份登录" in page.get_data(as_text=True)  # zh_CN, the default language


def test_not_initialised_app_says_so(fake_wechat: FakeWeChat) -> None:
    _, wechat = make_app(fake_wechat)
    other = Flask(__name__)
    with other.app_context(), pytest.raises(RuntimeError, match="init_app"):
        wechat.remote  # noqa: B018


def test_missing_secret_key_fails_at_init_app() -> None:
    app = bare_app(SECRET_KEY=None)
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set") as info:
        WeChatWeb(app)
    assert "secrets.token_hex" in str(info.value)  # the fix, in the message


def test_secret_key_removed_after_init_app_is_a_page_for_the_site_owner(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(fake_wechat)
    app.secret_key = None
    for path in ("/wechat/login", "/wechat/qrcode", "/wechat/logout", "/wechat/authorized"):
        response = app.test_client().get(path)
        assert response.status_code == 500, path  # the site's bug, not WeChat's
        body = response.get_data(as_text=True)
        assert "SECRET_KEY is not set" in body and "微信暂时没有响应" not in body
    assert [r.levelname for r in caplog.records if "SECRET_KEY" in r.getMessage()] == ["ERROR"] * 4


def test_factory_that_sets_config_late(fake_wechat: FakeWeChat) -> None:
    wechat = WeChatWeb()
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k")
    wechat.init_app(app)  # no credentials yet: checked at the first request
    app.config.update(fake_wechat.config())
    fake_wechat.configure(app)
    client = app.test_client()
    assert client.get(callback_path(fake_wechat.approve(start_login(client)))).status_code == 302


def test_config_still_missing_at_the_first_request_fails_naming_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k")
    WeChatWeb(app)
    response = app.test_client().get("/wechat/login")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "WECHAT_WEB_APPID is not set" in body and "WECHAT_WEB_SECRET is not set" in body
    [record] = [r for r in caplog.records if "WECHAT_WEB_APPID" in r.getMessage()]
    assert record.levelname == "ERROR"
    app.config.update(WECHAT_WEB_APPID="wx0123456789abcdef", WECHAT_WEB_SECRET="short")
    response = app.test_client().get("/wechat/login")
    assert response.status_code == 500
    assert "WECHAT_WEB_SECRET is malformed" in response.get_data(as_text=True)
