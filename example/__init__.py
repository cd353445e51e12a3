"""The Flask-WeChat-Web example site: a home page, a private page, WeChat login.

Run it with no WeChat account, against the built-in sandbox::

    WECHAT_WEB_SANDBOX=1 flask --app example run --debug

With a real website app, set ``WECHAT_WEB_APPID``, ``WECHAT_WEB_SECRET`` and
``SECRET_KEY`` in the environment instead.
"""

from __future__ import annotations

import json
import os
import typing as t

from flask import Flask, render_template
from flask_login import current_user, login_required

from flask_wechat_web import WeChatWeb

wechat = WeChatWeb()


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    """Build the example app; ``config`` overrides the environment (for tests)."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev only: change me")
    app.config.update(_settings_from_env())
    app.config.update(config or {})

    wechat.init_app(app)
    # Flask-Login would flash "Please log in to access this page." and show it
    # after the user is back from WeChat, already logged in.
    app.login_manager.login_message = None

    @app.template_filter("initials")
    def initials(name: str | None) -> str:
        words = (name or "").split()
        if len(words) > 1 and all(word[0].isascii() for word in words[:2]):
            return (words[0][0] + words[1][0]).upper()
        return (name or "?")[:1].upper()

    @app.route("/")
    def index() -> str:
        return render_template("index.html")

    @app.route("/account")
    @login_required
    def account() -> str:
        return render_template("account.html", user=current_user)

    return app


def _settings_from_env() -> dict[str, t.Any]:
    """``WECHAT_WEB_*`` variables, with ``1``/``true``/numbers parsed as JSON."""
    settings: dict[str, t.Any] = {}
    for key, value in os.environ.items():
        if not key.startswith("WECHAT_WEB_"):
            continue
        if key.endswith(("APPID", "SECRET")):  # an all-digit secret stays a string
            settings[key] = value
            continue
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return settings
