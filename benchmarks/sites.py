"""The two sites the benchmark compares, each served in a process of its own.

``ours``: Flask-WeChat-Web as the README shows it (the built-in user, which
reads the profile: token + userinfo). ``returning``: the same with a user
handler that finds its user by unionid and reads no profile field (token
only). ``baseline``: the same WeChat login written with plain Authlib's Flask
client, as simply as a competent developer would: its own minimal
compliance fixes, Authlib's default sessions.

Run as ``python -m benchmarks.sites NAME PORT`` with the ``WECHAT_WEB_*``
settings as JSON in ``BENCH_SETTINGS``; prints ``ready`` when serving.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import typing as t

from flask import Flask, redirect, session, url_for
from flask_login import UserMixin

SECRET_KEY = "benchmark secret key"


def _app(settings: dict[str, t.Any]) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET_KEY, **settings)

    @app.route("/hello")
    def hello() -> str:
        return "hello"

    return app


def ours(settings: dict[str, t.Any], *, returning: bool = False) -> Flask:
    from flask_wechat_web import WeChatIdentity, WeChatWeb

    app = _app(settings)
    wechat = WeChatWeb(app)
    if returning:
        users: dict[str, User] = {}

        @wechat.user_handler
        def find_user(identity: WeChatIdentity) -> User:
            key = identity.unionid or identity.openid
            if key not in users:
                users[key] = User(key, identity.nickname)  # first login: the profile
            return users[key]

        app.login_manager.user_loader(users.get)
    return app


class User(UserMixin):  # type: ignore[misc]
    def __init__(self, key: str, nickname: str | None) -> None:
        self.id, self.nickname = key, nickname


def baseline(settings: dict[str, t.Any]) -> Flask:
    """WeChat login with plain Authlib: what a developer writes without us."""
    import requests
    from authlib.integrations.flask_client import OAuth

    app = _app(settings)
    appid, secret = settings["WECHAT_WEB_APPID"], settings["WECHAT_WEB_SECRET"]
    api = settings["WECHAT_WEB_API_BASE_URL"]

    def wechat_fixes(session: t.Any) -> None:
        def token_response(resp: requests.Response) -> requests.Response:
            resp.encoding = "utf-8"  # text/plain without charset
            if "errcode" in resp.json():
                raise RuntimeError(f"WeChat error {resp.json()['errcode']}")
            return resp

        session.register_compliance_hook("access_token_response", token_response)

    oauth = OAuth(app)
    oauth.register(
        "wechat",
        client_id=appid,
        client_secret=secret,
        authorize_url=settings["WECHAT_WEB_OPEN_BASE_URL"] + "/connect/qrconnect",
        authorize_params={"appid": appid},
        access_token_url=api + "/sns/oauth2/access_token",
        api_base_url=api + "/",
        client_kwargs={"scope": "snsapi_login", "token_placement": "uri"},
        compliance_fix=wechat_fixes,
    )

    @app.route("/login")
    def login() -> t.Any:
        return oauth.wechat.authorize_redirect(url_for("authorized", _external=True))

    @app.route("/authorized")
    def authorized() -> t.Any:
        token = oauth.wechat.authorize_access_token(method="GET", appid=appid, secret=secret)
        resp = oauth.wechat.get(
            "sns/userinfo", params={"openid": token["openid"], "lang": "zh_CN"}, token=token
        )
        profile = json.loads(resp.content.decode("utf-8"))
        session["user"] = {"openid": token["openid"], "nickname": profile["nickname"]}
        return redirect("/")

    return app


class CPUMeter:
    """WSGI middleware: the CPU time the site's request threads spent on requests.

    ``time.thread_time`` counts only the thread serving the request, so the
    server's own bookkeeping threads do not blur the per-login figure.
    ``GET /_bench/cpu`` answers that running total and the whole process's
    CPU time (``time.process_time``: nanoseconds, where ``/proc`` counts
    10 ms ticks), in seconds, as JSON.
    """

    def __init__(self, app: t.Any) -> None:
        self.app, self.total, self.lock = app, 0.0, threading.Lock()

    def __call__(self, environ: t.Any, start_response: t.Any) -> t.Iterable[bytes]:
        if environ["PATH_INFO"] == "/_bench/cpu":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps([self.total, time.process_time()]).encode()]
        began = time.thread_time()
        try:
            return list(self.app(environ, start_response))
        finally:
            with self.lock:
                self.total += time.thread_time() - began


def main() -> None:
    from cheroot import wsgi

    from . import app_sites

    name, port = sys.argv[1], int(sys.argv[2])
    settings = json.loads(os.environ["BENCH_SETTINGS"])
    factories: dict[str, t.Callable[[], Flask]] = {
        "ours": lambda: ours(settings),
        "returning": lambda: ours(settings, returning=True),
        "baseline": lambda: baseline(settings),
        "apps-baseline": lambda: app_sites.baseline(settings),
    }
    server = wsgi.Server(("127.0.0.1", port), CPUMeter(factories[name]()), numthreads=16)
    server.prepare()
    print("ready", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
