"""The load client of the three-host run: many browsers logging in at once.

:func:`load` drives logins from many clients, each with its own cookie jar
and its own user on the fake WeChat, and tells every response by host and
cause (:data:`CAUSES`); :class:`Load` is what they saw. A failed attempt is
tried again from the start, so a fault shows as failed steps, not a crash.
"""

from __future__ import annotations

import html
import re
import threading
import time
import typing as t
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

from .topology_nginx import UPSTREAM_HEADER
from .topology_servers import FAKE, LOAD_HEADER, AppHost

if t.TYPE_CHECKING:
    from .topology import Topology

#: What a 5xx or a failed page says about its cause, by a phrase of its body
#: (the clients ask for English; the login's pages name the error's class).
CAUSES = {
    "(load balancer)": "nginx: no host answered",
    "StorageUnavailableError</strong>": "database down: the login's 503 page",
    "cannot reach its database": "database down: the site's 503 page",
    "StateMismatchError</strong>": "state lost: the login's 400 page",
    "InvalidCodeError</strong>": "code spent: the login's 400 page",
}
_CONSENT_FORM = re.compile(r'<form method="post" action="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)"')


@dataclass
class Load:
    """What the clients saw, and when."""

    responses: Counter[int] = field(default_factory=Counter)
    causes: Counter[str] = field(default_factory=Counter)
    failed_steps: Counter[str] = field(default_factory=Counter)
    #: The ``X-Load`` of each request that ended a failed attempt.
    failed_requests: list[str] = field(default_factory=list)
    completed: int = 0
    failed_attempts: int = 0
    sessions_lost: int = 0
    callback_seconds: list[float] = field(default_factory=list)
    completed_at: list[float] = field(default_factory=list)
    final_api_ok: int = 0
    #: Each completed pinned login's id, and the hosts of its start, callback and next page.
    pinned: dict[str, tuple[str, ...]] = field(default_factory=dict)
    clients: int = 0
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(self.responses.values()) + self.causes["cut off (no response)"]


class Failed(Exception):
    """A login attempt that did not complete at the request ``load_id`` (its ``X-Load``)."""

    def __init__(self, load_id: str) -> None:
        super().__init__(load_id)
        self.load_id = load_id
        self.step = load_id.rsplit(".", 1)[-1]


def cause_of(response: requests.Response) -> str:
    for phrase, cause in CAUSES.items():
        if phrase in response.text:
            return cause
    return f"HTTP {response.status_code} from {response.url}"


class Client:
    """One browser with its own cookie jar, logging in as its own WeChat user."""

    def __init__(
        self, topology: Topology, run: str, index: int, load: Load, pin_every: int = 0
    ) -> None:
        self.site, self.key, self.load = topology.url, f"{run}{index}", load
        self.hosts, self.index, self.pin_every = topology.hosts, index, pin_every
        self.browser = requests.Session()
        self.browser.trust_env = False
        self.browser.verify = str(topology.ca)
        self.browser.headers["Accept-Language"] = "en"
        self.browser.cookies.set("fake_wechat_user", self.key, domain=FAKE)
        self.name = f"用户 {self.key}"
        self.logged_in = False  # by a completed login, and no logout sent since

    def get(
        self, step: str, url: str, host: AppHost | None = None, **kwargs: t.Any
    ) -> requests.Response:
        return self.request("GET", step, url, host, **kwargs)

    def request(
        self, method: str, step: str, url: str, host: AppHost | None = None, **kwargs: t.Any
    ) -> requests.Response:
        """One request; ``host``: the app host nginx must send it to (else round robin)."""
        headers = {LOAD_HEADER: step}
        if host is not None:
            headers[UPSTREAM_HEADER] = host.number
        try:
            response = self.browser.request(
                method,
                url,
                headers=headers,
                allow_redirects=False,
                timeout=30,
                **kwargs,
            )
            response.content  # noqa: B018 - read it all: a body cut short fails here
        except requests.RequestException as error:
            with self.load.lock:
                self.load.causes["cut off (no response)"] += 1
            raise Failed(step) from error
        with self.load.lock:
            self.load.responses[response.status_code] += 1
            if response.status_code >= 500:
                self.load.causes[cause_of(response)] += 1
        return response

    def route(self, n: int) -> tuple[AppHost, ...] | None:
        """The hosts login ``n``'s start, callback and next page are pinned to, if it is.

        Three different hosts, in an order that rotates from login to login
        and client to client, so each host takes each step equally often.
        """
        if not self.pin_every or n % self.pin_every:
            return None
        first = self.index + n // self.pin_every
        return tuple(self.hosts[(first + i) % len(self.hosts)] for i in range(3))

    def login(self, n: int, attempt: int, check: bool) -> None:
        step = f"{self.key}.{n}.{attempt}"
        route = self.route(n)
        start_on, callback_on, next_on = route or (None, None, None)
        if check:  # still logged in from the login before?
            page = self.get(f"{step}.check", f"{self.site}/account")
            if not self.asked_to_log_in(page) and page.status_code != 200:
                raise Failed(f"{step}.check")
            self.logged_in = False  # a logout cut off on its way back may have happened
            logout = self.request("POST", f"{step}.logout", f"{self.site}/wechat/logout")
            if logout.status_code != 302:
                raise Failed(f"{step}.logout")
        start = self.get(f"{step}.start", f"{self.site}/wechat/login?next=/account", start_on)
        if start.status_code != 302:
            raise Failed(f"{step}.start")
        consent = self.get(f"{step}.fake", start.headers["Location"])
        authorize = self.approve(f"{step}.approve", consent)
        if authorize.status_code != 302:
            raise Failed(f"{step}.approve")
        began = time.perf_counter()
        callback = self.get(f"{step}.callback", authorize.headers["Location"], callback_on)
        elapsed = time.perf_counter() - began
        if callback.status_code != 302 or callback.headers["Location"] != "/account":
            if callback.status_code < 500:  # a 5xx is counted already
                with self.load.lock:
                    self.load.causes[cause_of(callback)] += 1
            raise Failed(f"{step}.callback")
        self.logged_in = True
        account = self.get(f"{step}.next", f"{self.site}/account", next_on)
        if self.asked_to_log_in(account) or self.name not in account.text:
            raise Failed(f"{step}.next")
        with self.load.lock:
            self.load.completed += 1
            self.load.callback_seconds.append(elapsed)
            self.load.completed_at.append(time.monotonic())
            if route is not None:
                self.load.pinned[step] = tuple(host.address for host in route)

    def approve(self, step: str, consent: requests.Response) -> requests.Response:
        """Press "log in as" on the fake WeChat's consent page, as its user."""
        form = _CONSENT_FORM.search(consent.text)
        if consent.status_code != 200 or form is None:
            raise Failed(step)
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(consent.text)}
        action = urljoin(consent.url, html.unescape(form.group(1)))
        return self.request("POST", step, action, data={**fields, "user": self.key})

    def asked_to_log_in(self, page: requests.Response) -> bool:
        """Whether ``page`` sends to the login; counted as a lost session if logged in."""
        asked = page.status_code == 302 and "/wechat/login" in page.headers["Location"]
        if asked and self.logged_in:
            self.logged_in = False
            with self.load.lock:
                self.load.sessions_lost += 1
        return asked

    def run(self, logins: int, max_attempts: int, think: float) -> None:
        with self.browser:
            for n in range(logins):
                for attempt in range(max_attempts):
                    try:
                        self.login(n, attempt, check=n > 0 or attempt > 0)
                        time.sleep(think)  # reading the page, logged in
                        break
                    except Failed as failure:
                        with self.load.lock:
                            self.load.failed_attempts += 1
                            self.load.failed_steps[failure.step] += 1
                            self.load.failed_requests.append(failure.load_id)
                        time.sleep(0.2)
                else:
                    raise RuntimeError(f"client {self.key}: login {n} failed {max_attempts} times")
            api = self.get(f"{self.key}.api.0.api", f"{self.site}/api/wechat-profile")
            if api.status_code == 200 and api.json().get("nickname") == self.name:
                with self.load.lock:
                    self.load.final_api_ok += 1


def load(
    topology: Topology,
    *,
    clients: int,
    logins_per_client: int,
    run: str,
    fault: t.Callable[[], None] | None = None,
    fault_after: int = 0,
    max_attempts: int = 50,
    think: float = 0.0,
    pin_every: int = 0,
) -> Load:
    """``clients`` browsers at once, each logging in ``logins_per_client`` times.

    ``fault`` runs once ``fault_after`` logins have completed, while the
    clients go on. A failed attempt is tried again from the start after
    0.2 s. ``think``: seconds a client stays on the page after a login.
    ``pin_every``: every so many logins of a client (the first, then every
    ``pin_every``-th), its start, callback and next page are sent to three
    different hosts (``X-Upstream``); the other requests go round robin.
    """
    result = Load(clients=clients)
    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        futures = [
            pool.submit(
                Client(topology, run, i, result, pin_every).run,
                logins_per_client,
                max_attempts,
                think,
            )
            for i in range(clients)
        ]
        if fault is not None:
            while result.completed < fault_after and not all(f.done() for f in futures):
                time.sleep(0.01)
            fault()
        for future in futures:
            future.result()
    result.seconds = time.monotonic() - began
    return result
