"""The Flask-WeChat-Web example site: a home page, a private page, WeChat login.

It speaks 简体中文, 繁體中文 and English through Flask-Babel: its locale
selector (a cookie the language switch sets, else ``Accept-Language``) also
decides the language of the extension's pages.

Run it with no WeChat account, against the built-in sandbox::

    WECHAT_WEB_SANDBOX=1 flask --app example run --debug

With a real website app, set ``WECHAT_WEB_APPID``, ``WECHAT_WEB_SECRET`` and
``SECRET_KEY`` in the environment instead; ``WECHAT_WEB_APP_*`` and
``WECHAT_WEB_MINIPROGRAM_*`` add the mobile app's and the mini program's
logins (``POST /wechat/app/login``, ``POST /wechat/miniprogram/login``).
One person is one user across all of them: ``user_for`` finds them by
unionid. ``GET /api/me`` shows the user and their WeChat accounts, by
cookie or bearer token. Users live in SQLite
(``instance/example.db``) unless ``DATABASE_URL`` names a PostgreSQL
database (then run ``flask --app example init-db`` once). Sessions are
signed cookies unless ``REDIS_URL`` names a Redis server: then they are kept
there (Flask-Session), shared by every host of the site.
"""

from __future__ import annotations

import json
import os
import typing as t

import click
from flask import Flask, jsonify, redirect, render_template, request
from flask_babel import Babel, get_locale
from flask_login import current_user, login_required
from sqlalchemy.exc import OperationalError
from werkzeug.wrappers import Response

from flask_wechat_web import (
    SQLAlchemyStorage,
    StorageUnavailableError,
    TokenExpiredError,
    WeChatError,
    WeChatIdentity,
    WeChatWeb,
)
from flask_wechat_web.agents import in_wechat_browser, on_phone
from flask_wechat_web.i18n import HTML_LANG, LOCALES, negotiate, supported_locale
from flask_wechat_web.pages import safe_next

from .models import User, WeChatAccount, db

storage = SQLAlchemyStorage(db, WeChatAccount)
wechat = WeChatWeb(storage=storage)

#: The cookie the language switch sets.
LANGUAGE_COOKIE = "lang"
#: The switch's choices, each named in its own language.
LANGUAGES = {"zh_CN": "简体中文", "zh_TW": "繁體中文", "en": "English"}


def select_locale() -> str:
    """The visitor's choice, else their browser's best language, else 简体中文."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LOCALES:
        return chosen
    return negotiate(request.accept_languages) or "zh_CN"


@wechat.user_handler
def user_for(identity: WeChatIdentity) -> User | None:
    """The site's user for a WeChat login: linked, found again, or new."""
    user = storage.find_user(identity)  # by openid, else by unionid
    if current_user.is_authenticated:
        # Someone already logged in adds a WeChat account to their user,
        # unless that WeChat account belongs to another user: refuse then.
        if user is not None and user.id != current_user.id:
            return None
        return t.cast(User, current_user._get_current_object())
    if user is None:
        # Reading the profile only here: returning users log in with one call.
        user = User(
            nickname=identity.nickname,
            headimgurl=identity.headimgurl,
            unionid=identity.unionid,
        )
        db.session.add(user)
        db.session.flush()  # its id, for the session; the storage commits user and token together
    return t.cast(User, user)


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    """Build the example app; ``config`` overrides the environment (for tests)."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev only: change me")
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_url()
    # A connection the server closed (a restart) is replaced, not used and failed.
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    # How the Official Account's replies and pages name the site.
    app.config["WECHAT_WEB_SITE_NAME"] = "Flask-WeChat-Web"
    app.config.update(_settings_from_env())
    app.config.update(config or {})
    if app.config.get("WECHAT_WEB_SANDBOX"):
        # The sandbox's Official Account takes scans and messages: both logins, no account.
        app.config.setdefault("WECHAT_WEB_FOLLOW_LOGIN", True)
        app.config.setdefault("WECHAT_WEB_CODE_LOGIN", True)

    _redis_sessions(app)
    db.init_app(app)
    Babel(app, locale_selector=select_locale)
    wechat.init_app(app)
    app.login_manager.user_loader(lambda user_id: db.session.get(User, int(user_id)))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            db.create_all()

    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the tables (SQLite databases get them on start)."""
        db.create_all()
        click.echo("Tables created.")

    @app.template_filter("initials")
    def initials(name: str | None) -> str:
        words = (name or "").split()
        if len(words) > 1 and all(word[0].isascii() for word in words[:2]):
            return (words[0][0] + words[1][0]).upper()
        return (name or "?")[:1].upper()

    @app.context_processor
    def page_language() -> dict[str, t.Any]:
        # Flask-Babel's locale carries the script (zh_Hans_CN): hence the
        # catalogs' folder names, and the mapping back to the switch's codes.
        locale = supported_locale(str(get_locale())) or "zh_CN"
        return {
            "locale": locale,
            "html_lang": HTML_LANG[locale],
            "languages": LANGUAGES,
            "in_wechat": in_wechat_browser(request.user_agent.string),
            "on_phone": on_phone(request.user_agent.string),
        }

    @app.route("/language/<locale>")
    def set_language(locale: str) -> Response:
        """Remember the visitor's language, then back to the page they were on."""
        response = redirect(safe_next(request.args.get("next")) or "/")
        if locale in LOCALES:
            response.set_cookie(LANGUAGE_COOKIE, locale, max_age=365 * 24 * 3600, samesite="Lax")
        return response

    @app.teardown_appcontext  # runs before Flask-SQLAlchemy's, registered earlier
    def end_transaction(error: BaseException | None) -> None:
        """Close the request's session, dropping a connection the database cut.

        Flask-SQLAlchemy's own teardown rolls back, which fails on a
        connection PostgreSQL terminated after the response was made, and a
        teardown's error turns that response into a 500.
        """
        try:
            db.session.close()
        except OperationalError:
            db.session().invalidate()  # closes without the rollback

    @app.errorhandler(OperationalError)
    @app.errorhandler(StorageUnavailableError)
    def database_unavailable(error: Exception) -> tuple[str, int]:
        """The site's own pages while the database is down (the login has its own 503).

        Rendered without context processors: Flask-Login's would load the
        user from the database that is down.
        """
        page = app.jinja_env.get_template("unavailable.html")
        html_lang = HTML_LANG[supported_locale(str(get_locale())) or "zh_CN"]
        return page.render(retry_url=request.full_path, html_lang=html_lang), 503

    @app.route("/")
    def index() -> str:
        return render_template("index.html")

    @app.route("/account")
    @login_required
    def account() -> str:
        return render_template("account.html", user=current_user)

    @app.route("/api/me")
    @login_required
    def me() -> t.Any:
        """Who is logged in (by cookie or bearer token), and their WeChat accounts."""
        user = t.cast(User, current_user._get_current_object())
        accounts = [{"appid": row.appid, "openid": row.openid} for row in user.accounts]
        return jsonify(id=user.id, nickname=user.nickname, unionid=user.unionid, accounts=accounts)

    @app.route("/api/wechat-profile")
    @login_required
    def wechat_profile() -> t.Any:
        """The user's WeChat profile, fetched now with their stored token."""
        try:
            token = wechat.token  # refreshed first if it has expired
            if token is None:
                return jsonify(error="This account has no WeChat login."), 404
            identity = wechat.fetch_identity(token, lang="zh_CN")
        except TokenExpiredError as error:  # the refresh token is dead too
            return jsonify(error=str(error.user_message)), 401
        except WeChatError as error:  # WeChat down, busy, or answering nonsense
            app.logger.warning("WeChat profile not fetched: %s", error.message)
            return jsonify(error=str(error.user_message)), 502
        return jsonify(identity.raw)

    return app


def _redis_sessions(app: Flask) -> None:
    """Sessions in Redis when ``REDIS_URL`` is set, so any host can serve any request.

    A Redis restart is ridden out: each command is retried on a new
    connection for about three seconds before the request fails.
    """
    url = os.environ.get("REDIS_URL")
    if not url or "SESSION_TYPE" in app.config:
        return
    import redis
    from cachelib import RedisCache
    from flask_session import Session
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    app.config["SESSION_TYPE"] = "redis"
    app.config["SESSION_REDIS"] = client = redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 8),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        socket_connect_timeout=1,
        socket_timeout=2,
    )
    Session(app)
    # Revoked bearer tokens and session keys, shared by every host too.
    app.config.setdefault("WECHAT_WEB_STORE", RedisCache(client, key_prefix="wechat_web:"))


def _database_url() -> str:
    """``DATABASE_URL`` (PostgreSQL with psycopg 3), else a SQLite file in ``instance/``."""
    url = os.environ.get("DATABASE_URL", "sqlite:///example.db")
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def _settings_from_env() -> dict[str, t.Any]:
    """``WECHAT_WEB_*`` variables, with ``1``/``true``/numbers parsed as JSON."""
    settings: dict[str, t.Any] = {}
    for key, value in os.environ.items():
        if not key.startswith("WECHAT_WEB_"):
            continue
        if key.endswith(("APPID", "SECRET", "_TOKEN", "_AES_KEY")):  # all digits: a string
            settings[key] = value
            continue
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return settings
