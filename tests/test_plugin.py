"""The pytest plugin, as a user's test suite meets it."""

from __future__ import annotations

import subprocess
import sys

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


def test_loading_the_plugin_imports_neither_the_fake_nor_the_extension() -> None:
    # pytest loads the plugin in every project that has the package installed.
    code = (
        "import sys, flask_wechat_web.testing.pytest_plugin\n"
        "heavy = ['authlib', 'requests', 'cheroot', 'babel', 'flask_wechat_web.extension',"
        " 'flask_wechat_web.testing.fake']\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_serving_the_fake_without_cheroot_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['cheroot'] = None\n"
        "from flask_wechat_web.testing import FakeWeChat\n"
        "FakeWeChat().serve()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "pip install 'Flask-WeChat-Web[testing]'" in run.stderr
