"""The plain baseline of the mobile app's and the mini program's logins.

The same exchanges written by hand with requests and Flask, as a competent
developer would: one keep-alive ``requests.Session`` for the process, the
body decoded as UTF-8, WeChat's errcode checked, the openid in the session.
"""

from __future__ import annotations

import json
import typing as t

import requests
from flask import Flask, abort, jsonify, request, session

from .sites import SECRET_KEY


def baseline(settings: dict[str, t.Any]) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET_KEY)
    api = settings["WECHAT_WEB_API_BASE_URL"]
    http = requests.Session()

    def call(path: str, **params: str) -> dict[str, t.Any]:
        answer = json.loads(http.get(f"{api}/{path}", params=params, timeout=5).content)
        if answer.get("errcode"):
            abort(502)
        return t.cast(dict[str, t.Any], answer)

    def code() -> str:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            abort(400)
        return t.cast(str, body["code"])

    @app.post("/miniprogram/login")
    def miniprogram_login() -> t.Any:
        answer = call(
            "sns/jscode2session",
            appid=settings["WECHAT_WEB_MINIPROGRAM_APPID"],
            secret=settings["WECHAT_WEB_MINIPROGRAM_SECRET"],
            js_code=code(),
            grant_type="authorization_code",
        )
        session["openid"] = answer["openid"]
        return jsonify(user={"openid": answer["openid"], "unionid": answer.get("unionid")})

    @app.post("/app/login")
    def app_login() -> t.Any:
        token = call(
            "sns/oauth2/access_token",
            appid=settings["WECHAT_WEB_APP_APPID"],
            secret=settings["WECHAT_WEB_APP_SECRET"],
            code=code(),
            grant_type="authorization_code",
        )
        profile = call("sns/userinfo", access_token=token["access_token"], openid=token["openid"])
        session["openid"] = token["openid"]
        return jsonify(user={"openid": token["openid"], "nickname": profile["nickname"]})

    return app
