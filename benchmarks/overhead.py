"""What the extension costs a request that is not a login: CPU per request
to a route outside the blueprint, with and without the extension."""

from __future__ import annotations

import statistics
import time
import typing as t

from flask import Flask
from flask_login import LoginManager

from flask_wechat_web import WeChatWeb

SETTINGS = {
    "SECRET_KEY": "k",
    "WECHAT_WEB_APPID": "wx0123456789abcdef",
    "WECHAT_WEB_SECRET": "0123456789abcdef0123456789abcdef",
}


def _site(kind: str) -> Flask:
    app = Flask(__name__)
    app.config.update(SETTINGS)
    if kind == "flask-login":
        LoginManager(app)
    elif kind == "extension":
        WeChatWeb(app)

    @app.route("/hello")
    def hello() -> str:
        return "hello"

    return app


def _cpu_per_request(app: Flask, requests: int) -> float:
    client = app.test_client()
    start = time.process_time()
    for _ in range(requests):
        client.get("/hello")
    return (time.process_time() - start) / requests


def measure(rounds: int = 15, requests: int = 1500) -> dict[str, t.Any]:
    """Median CPU per request of each app, in interleaved rounds."""
    apps = {kind: _site(kind) for kind in ("flask", "flask-login", "extension")}
    for app in apps.values():
        _cpu_per_request(app, 200)  # warm up
    samples: dict[str, list[float]] = {kind: [] for kind in apps}
    for _ in range(rounds):
        for kind, app in apps.items():
            samples[kind].append(_cpu_per_request(app, requests))
    median = {kind: statistics.median(values) for kind, values in samples.items()}
    return {
        "cpu_us_per_request": {kind: round(value * 1e6, 1) for kind, value in median.items()},
        "extension_vs_flask_login": round(median["extension"] / median["flask-login"], 3),
        "extension_vs_plain_flask": round(median["extension"] / median["flask"], 3),
    }
