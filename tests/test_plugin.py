"""The pytest plugin, as a user's test suite meets it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_fake_wechat_fixture_in_a_user_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from flask import Flask
        from flask_login import current_user
        from flask_wechat_web import WeChatWeb

        def make_app(fake):
            app = Flask(__name__)
            app.config.update(TESTING=True, SECRET_KEY="s", **fake.config())
            WeChatWeb(app)
            fake.configure(app)
            app.add_url_rule("/", "home", lambda: current_user.nickname or "")
            return app

        def test_login(fake_wechat):
            client = make_app(fake_wechat).test_client()
            authorize = client.get("/wechat/login").location
            callback = fake_wechat.approve(authorize)
            assert client.get(callback).status_code == 302
            assert client.get("/").text == fake_wechat.user.nickname
            assert fake_wechat.calls["access_token"] == 1

        def test_reset_between_tests(fake_wechat):
            assert fake_wechat.calls["access_token"] == 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
