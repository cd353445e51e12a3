"""Scan to follow on the three-host topology: the confirmation's latency, the wait's cost.

Part of ``./run.sh bench`` (``python -m benchmarks.login``), or alone as
``python -m benchmarks.follow``. The topology is ``benchmarks/topology.py``'s
(the example under gunicorn on three hosts behind nginx, Redis, PostgreSQL,
the fake WeChat in a process of its own at RTT 30 ms). Browsers wait on
``/wechat/follow`` as its script does (``/follow/status?wait=10``, the next
ask no sooner than 2 s after the previous began); a phone is driven by HTTP
(the fake's ``/_fake/scan``, then the confirmation page in "WeChat's
browser"). Figures:

- from the confirmation's POST to the waiting browser's logged-in page,
  p50 and p95: on one host (push, confirmation and wait on the same host)
  and across hosts (push, confirmation and wait each on another);
- requests per waiting page per second (50 pages waiting);
- the push's answer time, timed by the fake's POST to the site through
  nginx, idle and while 50 browsers wait on the same host;
- ``stable_token`` fetches by 3 hosts x 2 workers (the fake counts them).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import tempfile
import threading
import time
import typing as t
from collections import Counter
from pathlib import Path

import requests

from .topology import Topology
from .topology_nginx import UPSTREAM_HEADER, UPSTREAM_QUERY
from .topology_servers import FAKE, ROOT, AppHost

#: Browsers waiting all along, on the push's host.
WAITING = 50
#: Measured logins, on one host and across hosts.
LOGINS = 15
#: Pushes timed idle, and again while the browsers wait.
PUSHES = 40
#: The page's long poll: held up to WAIT s, the next ask GAP s after the previous began.
WAIT, GAP = 10, 2.0
MICROMESSENGER_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI"
)
_LINK = re.compile(r"https?://\S+/wechat/follow/confirm/wwl_[A-Za-z0-9_-]{32}")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REPORT = ROOT / "test-artifacts" / "follow-bench.json"


def _session(topology: Topology) -> requests.Session:
    http = requests.Session()
    http.trust_env, http.verify = False, str(topology.ca)
    http.headers["Accept-Language"] = "en"
    return http


class Waiter:
    """A browser on the follow page, asking ``/follow/status`` as the page's script does."""

    def __init__(self, topology: Topology, host: AppHost) -> None:
        self.base, self.host = topology.url, host
        self.http = _session(topology)
        self.asks = 0
        self.logged_in_at: float | None = None
        self.ended = threading.Event()
        self.outcome = "waiting"
        #: The status answers' HTTP statuses, and cut-offs.
        self.seen: Counter[int | str] = Counter()

    def get(self, path: str) -> requests.Response:
        headers = {UPSTREAM_HEADER: self.host.number}
        return self.http.get(self.base + path, headers=headers, allow_redirects=False, timeout=30)

    def open(self) -> None:
        """The page, with a new QR code: the newest the fake made, until the next opens."""
        page = self.get("/wechat/follow?next=/account&new=1")
        if page.status_code != 200 or "<svg" not in page.text:
            raise RuntimeError(f"follow page: {page.status_code} {page.text[:300]}")
        threading.Thread(target=self._wait, daemon=True).start()

    def _wait(self) -> None:
        """Ask until logged in or told a final status; a 5xx or a cut-off is asked again."""
        known, give_up = "waiting", time.monotonic() + 120
        try:
            while time.monotonic() < give_up:
                began = time.monotonic()
                self.asks += 1
                try:
                    answer = self.get(f"/wechat/follow/status?wait={WAIT}&known={known}")
                except requests.RequestException:
                    self.seen["cut off"] += 1
                else:
                    self.seen[answer.status_code] += 1
                    if answer.status_code < 500:
                        status = answer.json().get("status", "failed")
                        if status == "done":
                            page = self.get(answer.json()["next"])
                            if page.status_code == 200:
                                self.logged_in_at = time.perf_counter()
                            self.outcome = f"done {page.status_code}"
                            return
                        if status not in ("waiting", "scanned"):
                            self.outcome = status
                            return
                        known = status
                time.sleep(max(0.0, began + GAP - time.monotonic()))
        except requests.RequestException as error:
            self.outcome = f"cut off: {type(error).__name__}"
        finally:
            self.ended.set()


class Phone:
    """A person's phone: scans the newest QR code, then confirms in WeChat's browser."""

    def __init__(self, topology: Topology, user: str) -> None:
        self.topology, self.user = topology, user
        self.scan_url = f"{topology.fake_config['WECHAT_WEB_OPEN_BASE_URL']}/_fake/scan"

    def scan(self, push_host: AppHost) -> dict[str, t.Any]:
        """The scan's push, sent by the fake through nginx to ``push_host``."""
        url = f"{self.topology.push_url}?{UPSTREAM_QUERY}={push_host.number}"
        answer = requests.post(
            self.scan_url, data={"url": url, "user": self.user}, verify=self.topology.ca, timeout=30
        )
        delivery: dict[str, t.Any] = answer.json()
        if delivery.get("status") != 200 or not delivery.get("reply"):
            raise RuntimeError(f"push not taken: {delivery}")
        return delivery

    def confirm(self, reply: str, host: AppHost) -> float:
        """Open the reply's link (``snsapi_base``, silent), press Log in; when it was pressed."""
        found = _LINK.search(reply)
        if found is None:
            raise RuntimeError(f"no link in the reply: {reply!r}")
        phone = _session(self.topology)
        phone.headers.update({"User-Agent": MICROMESSENGER_UA, UPSTREAM_HEADER: host.number})
        phone.cookies.set("fake_wechat_user", self.user, domain=FAKE)
        page = phone.get(found.group(0), timeout=30)
        token = _CSRF.search(page.text)
        if token is None:
            raise RuntimeError(f"confirmation page: {page.status_code} {page.text[:300]}")
        pressed = time.perf_counter()
        done = phone.post(page.url, data={"csrf_token": token.group(1), "confirm": "1"})
        if done.status_code != 200:
            raise RuntimeError(f"confirmation: {done.status_code}")
        return pressed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _pushes(topology: Topology, host: AppHost, count: int, tag: str) -> list[float]:
    """``count`` scans of fresh QR codes pushed to ``host``: each push's answer time."""
    seconds = []
    for n in range(count):  # a browser each: a page reloaded keeps its QR code while it is good
        page = Waiter(topology, host).get("/wechat/follow?next=/account")
        if page.status_code != 200:
            raise RuntimeError(f"follow page: {page.status_code}")
        seconds.append(Phone(topology, f"{tag}{n}").scan(host)["seconds"])
    return seconds


def _logins(
    topology: Topology, wait_on: AppHost, push_to: AppHost, confirm_on: AppHost, tag: str
) -> list[float]:
    """Logins one after another: confirmation pressed -> the waiting browser's logged-in page."""
    latencies = []
    for n in range(LOGINS):
        waiter = Waiter(topology, wait_on)
        waiter.open()
        time.sleep(random.uniform(0.2, 3.0))  # the person scans at any point of the wait
        phone = Phone(topology, f"{tag}{n}")
        pressed = phone.confirm(phone.scan(push_to)["reply"], confirm_on)
        if not waiter.ended.wait(WAIT + 5) or waiter.logged_in_at is None:
            raise RuntimeError(f"login {tag}{n} not completed: {waiter.outcome}")
        latencies.append(waiter.logged_in_at - pressed)
    return latencies


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(_percentile(values, 0.95) * 1000, 1),
        "p99_ms": round(_percentile(values, 0.99) * 1000, 1),
        "n": len(values),
    }


def measure() -> dict[str, t.Any]:
    with tempfile.TemporaryDirectory() as tmp, Topology(Path(tmp)) as topology:
        one, two, three = topology.hosts
        _pushes(topology, one, 3, "warm")  # the first QR code fetches the server token
        idle = _pushes(topology, one, PUSHES, "idle")
        waiting = [Waiter(topology, one) for _ in range(WAITING)]
        for waiter in waiting:
            waiter.open()
        began = time.monotonic()
        loaded = _pushes(topology, one, PUSHES, "busy")
        single = _logins(topology, one, one, one, "one")
        across = _logins(topology, three, one, two, "three")
        asks = sum(waiter.asks for waiter in waiting)
        seconds = time.monotonic() - began
        still = sum(waiter.outcome == "waiting" for waiter in waiting)
        calls = requests.get(
            f"{topology.fake_config['WECHAT_WEB_OPEN_BASE_URL']}/_fake/calls",
            verify=topology.ca,
            timeout=10,
        ).json()
    idle_ms, loaded_ms = _ms(idle), _ms(loaded)
    return {
        "confirmation_to_logged_in_one_host": _ms(single),
        "confirmation_to_logged_in_three_hosts": _ms(across),
        "waiting_pages": WAITING,
        "still_waiting_at_the_end": still,
        "requests_per_waiting_page_per_s": round(asks / WAITING / seconds, 3),
        "waited_s": round(seconds, 1),
        "push_idle": idle_ms,
        "push_while_50_wait": loaded_ms,
        "push_p50_ratio_waiting_vs_idle": round(loaded_ms["p50_ms"] / idle_ms["p50_ms"], 2),
        "push_p99_ratio_waiting_vs_idle": round(loaded_ms["p99_ms"] / idle_ms["p99_ms"], 2),
        "stable_token_fetches": int(calls.get("stable_token", 0)),
        "qrcode_creates": int(calls.get("qrcode_create", 0)),
        "hosts_x_workers": "3 x 2",
    }


def format_report(row: dict[str, t.Any]) -> str:
    one, three = (
        row["confirmation_to_logged_in_one_host"],
        row["confirmation_to_logged_in_three_hosts"],
    )
    idle, busy = row["push_idle"], row["push_while_50_wait"]
    return "\n".join(
        [
            "Scan to follow (three-host topology, RTT 30 ms to the fake WeChat):",
            f"  confirmation -> logged-in page, one host:    p50 {one['p50_ms']:.0f} ms, "
            f"p95 {one['p95_ms']:.0f} ms ({one['n']} logins)",
            f"  confirmation -> logged-in page, three hosts: p50 {three['p50_ms']:.0f} ms, "
            f"p95 {three['p95_ms']:.0f} ms ({three['n']} logins; target p95 <= 1000 ms)",
            f"  requests per waiting page per second: {row['requests_per_waiting_page_per_s']} "
            f"({row['waiting_pages']} pages for {row['waited_s']} s; target <= 0.5)",
            f"  push answer: idle p50 {idle['p50_ms']:.1f} / p99 {idle['p99_ms']:.1f} ms; "
            f"while {row['waiting_pages']} wait p50 {busy['p50_ms']:.1f} / p99 "
            f"{busy['p99_ms']:.1f} ms (x{row['push_p50_ratio_waiting_vs_idle']} / "
            f"x{row['push_p99_ratio_waiting_vs_idle']}; target p99 < 50 ms)",
            f"  stable_token fetches by {row['hosts_x_workers']} workers: "
            f"{row['stable_token_fetches']} (target 1; {row['qrcode_creates']} QR codes made)",
        ]
    )


def report() -> str:
    """Run :func:`measure`, write ``test-artifacts/follow-bench.json``, return the lines."""
    row = measure()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(row, indent=2))
    return format_report(row)


if __name__ == "__main__":
    print(report())
