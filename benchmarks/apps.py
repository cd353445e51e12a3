"""Logins from the mobile app and the mini program, and requests by bearer token.

Part of ``make bench`` (``python -m benchmarks.login``), or alone as
``python -m benchmarks.apps``. At RTT 30 ms, over HTTPS to the fake WeChat
behind the RTT proxy:

- a mini program login (``POST /wechat/miniprogram/login``: one call,
  ``jscode2session``) and a mobile app login (``POST /wechat/app/login``:
  two, the token and the profile), against the same exchanges written by
  hand (``benchmarks/app_sites.py``); each login's latency against the
  rig's floor (its calls times one bare call through the proxy);
- the CPU of a request to a ``@login_required`` route authenticated by the
  bearer token, against the same request authenticated by the session
  cookie (in-process, interleaved rounds).
"""

from __future__ import annotations

import statistics
import time
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import requests
from flask import Flask
from flask_login import current_user, login_required

from .rig import Site, fake_wechat, rig_call_seconds
from .rtt_proxy import RTTProxy

RTT = 0.030
#: Each site's path of each login, and the calls to WeChat it makes.
LOGINS = {
    "miniprogram": ({"ours": "/wechat/miniprogram/login", "baseline": "/miniprogram/login"}, 1),
    "app": ({"ours": "/wechat/app/login", "baseline": "/app/login"}, 2),
}
#: The fake's users the logins rotate through: it allows 100 calls per user a minute.
USERS = 40


class Phone:
    """An app's HTTP client: asks the fake for a code as the phone would, posts it."""

    def __init__(self, site: Site, fake_api: str, ca: Path) -> None:
        self.site, self.fake_api = site, fake_api
        self.http = requests.Session()
        self.http.verify, self.http.trust_env = str(ca), False
        self.count = 0

    def login(self, kind: str, path: str) -> float:
        """One login; its latency in seconds (the code fetched before the clock starts)."""
        self.count += 1
        code = self.http.post(
            f"{self.fake_api}/_fake/{kind}-code", data={"user": f"bench{self.count % USERS}"}
        ).json()["code"]
        began = time.perf_counter()
        answer = self.http.post(self.site.url + path, json={"code": code})
        elapsed = time.perf_counter() - began
        if answer.status_code != 200:
            raise RuntimeError(f"{self.site.name} {path}: {answer.status_code} {answer.text}")
        return elapsed


def logins(config: dict[str, str], ca: Path, count: int = 80) -> dict[str, t.Any]:
    """Median latency of each login on each site, in interleaved rounds, against the floor."""
    fake_api = config["WECHAT_WEB_API_BASE_URL"]
    api_port = urlsplit(fake_api).port
    assert api_port is not None
    proxy = RTTProxy(("127.0.0.1", api_port), RTT)
    settings = {**config, "WECHAT_WEB_API_BASE_URL": f"https://127.0.0.1:{proxy.port}"}
    rig_call = rig_call_seconds(settings["WECHAT_WEB_API_BASE_URL"], ca)
    sites = {"baseline": Site("apps-baseline", settings, ca), "ours": Site("ours", settings, ca)}
    latencies: dict[tuple[str, str], list[float]] = {}
    try:
        phones = {name: Phone(site, fake_api, ca) for name, site in sites.items()}
        for kind, (paths, _) in LOGINS.items():
            for name, phone in phones.items():
                for _ in range(3):  # warm up: connections, imports, the store
                    phone.login(kind, paths[name])
                latencies[kind, name] = []
            for _ in range(8):
                for name, phone in phones.items():
                    for _ in range(count // 8):
                        latencies[kind, name].append(phone.login(kind, paths[name]))
    finally:
        for site in sites.values():
            site.stop()
        proxy.stop()
    results: dict[str, t.Any] = {"rtt_ms": RTT * 1000, "rig_call_ms": rig_call * 1000}
    for (kind, name), samples in latencies.items():
        median = statistics.median(samples)
        calls = LOGINS[kind][1]
        results[f"{kind} {name}"] = {
            "median_ms": median * 1000,
            "vs_floor": median / (calls * rig_call),
            "vs_rtt": median / (calls * RTT),
        }
    return results


def bearer_vs_cookie(rounds: int = 15, count: int = 1000) -> dict[str, float]:
    """CPU per request to a ``@login_required`` route: by bearer token and by session cookie."""
    from flask_wechat_web import WeChatWeb
    from flask_wechat_web.testing import FakeWeChat

    fake = FakeWeChat()
    app = Flask(__name__)
    app.config.update(SECRET_KEY="benchmark secret key", TESTING=True, **fake.config())
    WeChatWeb(app)
    fake.configure(app)

    @app.route("/me")
    @login_required
    def me() -> str:
        return str(current_user.get_id())

    by_cookie = app.test_client()
    answer = by_cookie.post("/wechat/miniprogram/login", json={"code": fake.miniprogram_code()})
    headers = {"Authorization": f"Bearer {answer.get_json()['access_token']}"}
    by_bearer = app.test_client(use_cookies=False)

    def cpu(client: t.Any, **kwargs: t.Any) -> float:
        start = time.process_time()
        for _ in range(count):
            if client.get("/me", **kwargs).status_code != 200:
                raise RuntimeError("not logged in")
        return (time.process_time() - start) / count

    cpu(by_cookie), cpu(by_bearer, headers=headers)  # warm up
    cookie, bearer = [], []
    for _ in range(rounds):
        cookie.append(cpu(by_cookie))
        bearer.append(cpu(by_bearer, headers=headers))
    cookie_us, bearer_us = statistics.median(cookie) * 1e6, statistics.median(bearer) * 1e6
    return {
        "cookie_us": cookie_us,
        "bearer_us": bearer_us,
        "bearer_vs_cookie": bearer_us / cookie_us,
    }


def report(results: dict[str, t.Any], cost: dict[str, float]) -> str:
    lines = [
        f"Mobile app and mini program logins, RTT {results['rtt_ms']:.0f} ms "
        f"(one bare call through the rig: {results['rig_call_ms']:.1f} ms):",
        "  login            site      median ms  x floor  x RTTs",
    ]
    for kind in LOGINS:
        for name in ("baseline", "ours"):
            row = results[f"{kind} {name}"]
            lines.append(
                f"  {kind:<15}  {name:<8}  {row['median_ms']:9.1f}  "
                f"{row['vs_floor']:7.2f}  {row['vs_rtt']:6.2f}"
            )
    lines.append(
        f"CPU per request to a @login_required route (us): session cookie "
        f"{cost['cookie_us']:.1f}, bearer token {cost['bearer_us']:.1f} "
        f"({cost['bearer_vs_cookie']:.3f}x)"
    )
    return "\n".join(lines)


def main() -> None:
    with fake_wechat() as (config, ca_file):
        results = logins(config, ca_file)
    print(report(results, bearer_vs_cookie()))


if __name__ == "__main__":
    main()
