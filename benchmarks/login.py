"""Login speed: Flask-WeChat-Web against plain Authlib, over TLS, with real RTTs.

``make bench`` (or ``python -m benchmarks.login``) runs, in one process tree:
the fake WeChat over HTTPS (a trustme CA, verified), a proxy that adds the
chosen round-trip time, and three sites in processes of their own
(``benchmarks/sites.py``): ``baseline`` (plain Authlib), ``ours``
(Flask-WeChat-Web with its built-in user: token + userinfo) and
``returning`` (a handler that finds the user by unionid: token only).
Rounds are interleaved, warm-up logins dropped. Prints a table, the mobile
app's and the mini program's logins and the bearer token's cost
(``benchmarks/apps.py``), the three-host run (``benchmarks/topology.py``),
scan to follow on three hosts (``benchmarks/follow.py``),
the cost of other routes
(``benchmarks/overhead.py``) and the session cookie a login leaves
(``benchmarks/cookies.py``), and writes ``benchmarks/results/login.json``
and ``login.png``.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from . import apps, cookies, follow, overhead, topology
from .login_report import plot, ratios, table
from .rig import Site, fake_wechat, rig_call_seconds
from .rtt_proxy import RTTProxy

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SITES = ("baseline", "ours", "returning")
PATHS = {
    "baseline": ("/login", "/authorized"),
    "ours": ("/wechat/login", "/wechat/authorized"),
    "returning": ("/wechat/login", "/wechat/authorized"),
}


class Browser:
    """A client with its own cookie jar, logging in again and again."""

    def __init__(self, site: Site, ca: Path) -> None:
        self.site, self.session = site, requests.Session()
        self.session.verify = str(ca)
        self.session.trust_env = False

    def login(self) -> float:
        """One login; the callback's latency in seconds."""
        login_path, callback_path = PATHS[self.site.name]
        start = self.session.get(self.site.url + login_path, allow_redirects=False)
        page = self.session.get(start.headers["Location"], allow_redirects=False)
        form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
        form = {name: html.unescape(value) for name, value in form.items()}
        confirm = urljoin(page.url, "confirm")  # the fake's page: a person taps "log in as"
        authorize = self.session.post(
            confirm, data={**form, "user": "zhangsan"}, allow_redirects=False
        )
        callback = authorize.headers["Location"]
        assert urlsplit(callback).path == callback_path, callback
        began = time.perf_counter()
        done = self.session.get(callback, allow_redirects=False)
        elapsed = time.perf_counter() - began
        if done.status_code != 302:
            raise RuntimeError(f"{self.site.name}: callback answered {done.status_code}")
        return elapsed

    def close(self) -> None:
        self.session.close()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    logins: int = 0
    cpu: float = 0.0
    request_cpu: float = 0.0
    connections: int = 0
    client_hellos: int = 0
    calls: int = 0


def _fake_calls(fake_url: str, ca: Path) -> int:
    counts = requests.get(f"{fake_url}/_fake/calls", verify=str(ca), timeout=5).json()
    return int(counts.get("access_token", 0)) + int(counts.get("userinfo", 0))


def _batch(
    site: Site, browsers: list[Browser], per_browser: int, proxy: RTTProxy, fake: str, ca: Path
) -> Tally:
    """Logins from ``browsers`` at once; what they cost, seen from every side."""
    (request_cpu, cpu), conns, hellos = site.cpu_seconds(), proxy.connections, proxy.client_hellos
    calls = _fake_calls(fake, ca)
    began = time.perf_counter()
    with ThreadPoolExecutor(len(browsers)) as pool:
        runs = pool.map(lambda b: [b.login() for _ in range(per_browser)], browsers)
        latencies = [latency for run in runs for latency in run]
    seconds = time.perf_counter() - began
    request_cpu_after, cpu_after = site.cpu_seconds()
    return Tally(
        latencies=latencies,
        seconds=seconds,
        logins=len(latencies),
        cpu=cpu_after - cpu,
        request_cpu=request_cpu_after - request_cpu,
        connections=proxy.connections - conns,
        client_hellos=proxy.client_hellos - hellos,
        calls=_fake_calls(fake, ca) - calls,
    )


def _merge(tallies: list[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.latencies += tally.latencies
        for name in (
            "seconds",
            "logins",
            "cpu",
            "request_cpu",
            "connections",
            "client_hellos",
            "calls",
        ):
            setattr(total, name, getattr(total, name) + getattr(tally, name))
    return total


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_rtt(
    rtt: float, logins: int, concurrency: int, config: dict[str, str], ca: Path
) -> dict[str, dict[str, float]]:
    api_port = urlsplit(config["WECHAT_WEB_API_BASE_URL"]).port
    assert api_port is not None
    proxy = RTTProxy(("127.0.0.1", api_port), rtt)
    settings = {**config, "WECHAT_WEB_API_BASE_URL": f"https://127.0.0.1:{proxy.port}"}
    fake = config["WECHAT_WEB_OPEN_BASE_URL"]
    rig_call = rig_call_seconds(settings["WECHAT_WEB_API_BASE_URL"], ca)
    sites = {name: Site(name, settings, ca) for name in SITES}
    try:
        browsers = {name: Browser(site, ca) for name, site in sites.items()}
        for name in SITES:  # warm up: first connections, first user, imports
            for _ in range(3):
                browsers[name].login()
        rounds = 8
        sequential: dict[str, list[Tally]] = {name: [] for name in SITES}
        for _ in range(rounds):
            for name in SITES:
                tally = _batch(sites[name], [browsers[name]], logins // rounds, proxy, fake, ca)
                sequential[name].append(tally)
        concurrent = {}
        for name in SITES:
            crowd = [Browser(sites[name], ca) for _ in range(concurrency)]
            for browser in crowd:
                browser.login()
            concurrent[name] = _batch(
                sites[name], crowd, max(2, logins // concurrency), proxy, fake, ca
            )
            for browser in crowd:
                browser.close()
        for browser in browsers.values():
            browser.close()
    finally:
        for site in sites.values():
            site.stop()
        proxy.stop()
    results = {}
    for name in SITES:
        seq = _merge(sequential[name])
        median = statistics.median(seq.latencies)
        results[name] = {
            "rtt_ms": rtt * 1000,
            "logins": seq.logins,
            "logins_per_s": seq.logins / seq.seconds,
            "logins_per_s_concurrent": concurrent[name].logins / concurrent[name].seconds,
            "median_ms": median * 1000,
            "p99_ms": _percentile(seq.latencies, 0.99) * 1000,
            "cpu_ms_per_login": seq.cpu / seq.logins * 1000,
            "request_cpu_ms_per_login": seq.request_cpu / seq.logins * 1000,
            "new_connections_per_login": seq.connections / seq.logins,
            "tls_handshakes_per_login": seq.client_hellos / seq.logins,
            "calls_per_login": seq.calls / seq.logins,
            "rig_call_ms": rig_call * 1000,
        }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.login", description=__doc__)
    parser.add_argument("--long", action="store_true", help="also run at RTT 100 ms")
    parser.add_argument("--logins", type=int, default=120, help="sequential logins per site")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    missing = topology.missing_servers()
    if missing:  # before minutes of work, not in a traceback after them
        parser.exit(2, f"error: missing {', '.join(missing)}: ./run.sh bench installs them\n")
    rtts = [0.0, 0.030] + ([0.100] if args.long else [])
    RESULTS.mkdir(parents=True, exist_ok=True)
    with fake_wechat() as (config, ca_file):
        runs = []
        for rtt in rtts:
            results = run_rtt(rtt, args.logins, args.concurrency, config, ca_file)
            ratios(results)
            runs.append(results)
            print(f"RTT {rtt * 1000:.0f} ms done", file=sys.stderr, flush=True)
        app_logins = apps.logins(config, ca_file)  # the mobile app's and the mini program's
    cost = overhead.measure()
    bearer = apps.bearer_vs_cookie()
    cookie_sizes = cookies.measure()
    print(table(runs))
    print(cookies.report(cookie_sizes))
    print(apps.report(app_logins, bearer))
    print(topology.report())  # the same login on three hosts behind nginx
    print(follow.report())  # scan to follow on the same three hosts
    print()
    print("CPU per request to a route outside the blueprint (us):", cost["cpu_us_per_request"])
    print(
        f"with the extension vs the same app with Flask-Login only: "
        f"{cost['extension_vs_flask_login']:.3f}x; vs plain Flask: "
        f"{cost['extension_vs_plain_flask']:.3f}x"
    )
    report = {
        "runs": runs,
        "outside_blueprint": cost,
        "session_cookie_bytes": cookie_sizes,
        "apps": app_logins,
        "bearer_vs_cookie": bearer,
    }
    (RESULTS / "login.json").write_text(json.dumps(report, indent=2, allow_nan=True))
    plot(runs, RESULTS / "login.png")
    print(f"\nWrote {RESULTS / 'login.json'} and {RESULTS / 'login.png'}")


if __name__ == "__main__":
    main()
