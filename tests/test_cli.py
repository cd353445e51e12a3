"""``flask wechat check`` and ``flask wechat urls``."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_wechat_web.testing import FakeWeChat

from .conftest import make_app


def run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["wechat", *args])
    output = result.output  # stdout and stderr, interleaved
    for key in ("WECHAT_WEB_SECRET", "WECHAT_WEB_MP_SECRET"):
        assert not app.config[key] or app.config[key] not in output
    return result.exit_code, output


def test_check_passes_on_a_good_config(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    code, output = run(app, "check")
    assert code == 0
    assert "look right" in output


def test_check_lists_every_problem(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    app.config.update(
        WECHAT_WEB_SCOPE="snsapi_userinfo",
        WECHAT_WEB_LANG="de",
        WECHAT_WEB_TIMEOUT=0,
        WECHAT_WEB_URL_PREFIX="wechat",
        WECHAT_WEB_MP_SECRET="short",
    )
    app.testing = False
    app.config["WECHAT_WEB_SANDBOX"] = True
    code, output = run(app, "check")
    assert code == 1
    problems = [line for line in output.splitlines() if line.startswith("problem:")]
    assert len(problems) == 6
    for key in (
        "WECHAT_WEB_SCOPE",
        "WECHAT_WEB_LANG",
        "WECHAT_WEB_TIMEOUT",
        "WECHAT_WEB_URL_PREFIX",
        "WECHAT_WEB_MP_SECRET",
        "WECHAT_WEB_SANDBOX",
    ):
        assert sum(key in line for line in problems) >= 1


def test_check_online_accepts_good_credentials(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    code, output = run(app, "check", "--online")
    assert code == 0, output
    assert "accepts the credentials" in output
    # The website app, the Official Account and the mobile app; the mini program's own call.
    assert fake_wechat.calls["access_token"] == 3
    assert fake_wechat.calls["jscode2session"] == 1


@pytest.mark.parametrize(
    ("change", "errcode_text"),
    [("secret", "credentials"), ("appid", "credentials")],
)
def test_check_online_finds_bad_credentials(
    fake_wechat: FakeWeChat, change: str, errcode_text: str
) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    if change == "secret":
        fake_wechat.add_app(app.config["WECHAT_WEB_APPID"], "d" * 32)
    else:
        fake_wechat.add_app("wx" + "1" * 16, "d" * 32)
        app.config["WECHAT_WEB_APPID"] = "wx" + "2" * 16
    code, output = run(app, "check", "--online")
    assert code == 1
    assert "problem: WECHAT_WEB_APPID" in output and errcode_text in output


def test_check_online_finds_the_mini_programs_bad_secret(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    fake_wechat.add_app(app.config["WECHAT_WEB_MINIPROGRAM_APPID"], "d" * 32, kind="miniprogram")
    code, output = run(app, "check", "--online")
    assert code == 1
    assert "problem: WECHAT_WEB_MINIPROGRAM_APPID" in output and "credentials" in output
    assert "d" * 32 not in output and app.config["WECHAT_WEB_MINIPROGRAM_SECRET"] not in output


def test_check_online_reports_network_failure(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    app.config["WECHAT_WEB_API_BASE_URL"] = "http://127.0.0.1:9"
    code, output = run(app, "check", "--online")
    assert code == 1
    assert "could not be reached" in output


def test_urls(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(
        fake_wechat,
        SERVER_NAME="www.example.com",
        PREFERRED_URL_SCHEME="https",
        WECHAT_WEB_URL_PREFIX="/auth/wechat",
    )
    code, output = run(app, "urls")
    assert code == 0
    assert "Callback URL: https://www.example.com/auth/wechat/authorized" in output
    assert "Website app: enter www.example.com" in output
    assert "Official Account: enter www.example.com" in output
    assert "授权回调域" in output and "网页授权域名" in output


def test_urls_warns_about_a_port(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="example.com:8443", PREFERRED_URL_SCHEME="https")
    code, output = run(app, "urls")
    assert code == 0
    assert "enter example.com" in output and "port" in output


def test_urls_needs_a_public_address(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    code, output = run(app, "urls")
    assert code == 1
    assert "SERVER_NAME" in output
    app.config["WECHAT_WEB_CALLBACK_URL"] = "https://auth.example.com/cb"
    code, output = run(app, "urls")
    assert code == 0 and "auth.example.com" in output


def test_urls_names_the_push_settings(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(
        fake_wechat,
        SERVER_NAME="www.example.com",
        PREFERRED_URL_SCHEME="https",
        **fake_wechat.push_config("safe"),
    )
    code, output = run(app, "urls")
    assert code == 0, output
    assert "服务器配置" in output
    assert "URL (服务器地址): https://www.example.com/wechat/mp/push" in output
    assert "安全模式" in output
    assert app.config["WECHAT_WEB_MP_TOKEN"] not in output
    assert app.config["WECHAT_WEB_MP_AES_KEY"] not in output
    code, output = run(app, "urls", "--show-token")
    assert f"Token (令牌): {app.config['WECHAT_WEB_MP_TOKEN']}" in output
    assert app.config["WECHAT_WEB_MP_AES_KEY"] not in output


def test_urls_warns_that_wechat_pushes_to_80_and_443_only(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="example.com:8443", **fake_wechat.push_config())
    code, output = run(app, "urls")
    assert code == 0
    assert "ports 80 and 443" in output


def test_check_names_the_account_sign_ins_needs(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, SERVER_NAME="www.example.com")
    app.config.update(WECHAT_WEB_FOLLOW_LOGIN=True, WECHAT_WEB_CODE_LOGIN=True)
    app.config.update(WECHAT_WEB_FOLLOW_TTL=0, WECHAT_WEB_SITE_NAME="")
    code, output = run(app, "check")
    assert code == 1
    problems = [line for line in output.splitlines() if line.startswith("problem:")]
    assert sum("WECHAT_WEB_MP_TOKEN" in line for line in problems) == 2
    assert any("WECHAT_WEB_FOLLOW_TTL" in line for line in problems)
    assert not any("WECHAT_WEB_SITE_NAME" in line for line in problems)  # "" is unset


def test_check_online_asks_for_the_server_token_of_the_account_sign_ins(
    fake_wechat: FakeWeChat,
) -> None:
    app, _ = make_app(
        fake_wechat,
        SERVER_NAME="www.example.com",
        WECHAT_WEB_FOLLOW_LOGIN=True,
        **fake_wechat.push_config(),
    )
    code, output = run(app, "check", "--online")
    assert code == 0, output
    assert fake_wechat.calls["stable_token"] == 1
    fake_wechat.allowed_ips = {"203.0.113.9"}
    with app.app_context():
        app.extensions["wechat_web"].store.clear()  # forget the token held
    code, output = run(app, "check", "--online")
    assert code == 1
    assert "IP" in output and "白名单" in output


def test_urls_of_a_site_with_only_an_official_account(fake_wechat: FakeWeChat) -> None:
    config = {
        "SERVER_NAME": "shop.example.com",
        "PREFERRED_URL_SCHEME": "https",
        "WECHAT_WEB_APPID": None,
        "WECHAT_WEB_SECRET": None,
        **fake_wechat.push_config(),
    }
    app, _ = make_app(fake_wechat, WECHAT_WEB_FOLLOW_LOGIN=True, **config)
    code, output = run(app, "urls")
    assert code == 0, output
    assert "Website app" not in output
    assert output.count("网页授权域名") == 1  # the confirmation page's, said once
    assert "https://shop.example.com/wechat/mp/push" in output
    # The code login sends no browser to WeChat: the push is all it needs.
    app, _ = make_app(
        fake_wechat, WECHAT_WEB_CODE_LOGIN=True, WECHAT_WEB_MP_WEB_AUTH=False, **config
    )
    code, output = run(app, "urls")
    assert code == 0, output
    assert "Callback URL" not in output and "网页授权域名" not in output
    assert "https://shop.example.com/wechat/mp/push" in output
