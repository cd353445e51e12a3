"""What the fake WeChat remembers: apps, users, codes, tokens, and its clock.

:class:`Model` is the base of :class:`~flask_wechat_web.testing.FakeWeChat`;
the pages (``pages.py``), the API (``api.py``) and the faults
(``faults.py``) work on this state, always under :attr:`Model._lock`.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["DEFAULT_DOMAIN", "FakeApp", "FakeUser", "Model"]

#: The callback domain the sample apps have: the Flask test client's host.
DEFAULT_DOMAIN = "localhost"
#: The kinds of app: website app, Official Account, mobile app, mini program.
KINDS = ("website", "mp", "app", "miniprogram")
#: A mobile app's code lifetime is unconfirmed (reference §8.2): as the website's.
CODE_TTL = {"website": 600.0, "mp": 300.0, "app": 600.0, "miniprogram": 300.0}
ACCESS_TTL = 7200
REFRESH_TTL = 30 * 24 * 3600.0
ALNUM = string.ascii_letters + string.digits
SCOPES = {"website": {"snsapi_login"}, "mp": {"snsapi_base", "snsapi_userinfo"}}
#: ``jscode2session`` answers 45011 past this many calls per user per minute.
JSCODE_PER_MINUTE = 100


@dataclass(frozen=True)
class FakeUser:
    """A WeChat user of the fake. ``key`` is stable; ids derive from it.

    ``sex``, ``province``, ``city``, ``country`` and ``privilege`` are sent
    only by apps with ``empty_profile=False`` (WeChat before 2021-10-20);
    the region fields map a ``lang`` (``zh_CN``, ``zh_TW``, ``en``) to the
    name in that language.
    """

    key: str
    nickname: str
    headimgurl: str = ""
    sex: int = 0
    province: Mapping[str, str] = field(default_factory=dict, hash=False)
    city: Mapping[str, str] = field(default_factory=dict, hash=False)
    country: Mapping[str, str] = field(default_factory=dict, hash=False)
    privilege: tuple[str, ...] = ()


@dataclass
class FakeApp:
    """An app registered with the fake.

    ``kind`` is ``"website"`` (Open Platform, ``qrconnect``, ``snsapi_login``),
    ``"mp"`` (Official Account, ``oauth2/authorize``), ``"app"`` (Open
    Platform mobile app: OpenSDK codes, ``snsapi_userinfo``) or
    ``"miniprogram"`` (``wx.login`` codes, ``jscode2session``); the last two
    have no authorize page. ``bound`` means bound to the Open Platform
    account, so ``unionid`` is returned.
    ``domain`` is the authorization callback domain: the redirect_uri's host
    must equal it. A website app allows any port; an Official Account allows
    none, unless the domain names one (``127.0.0.1:5000``), as WeChat's test
    accounts do. ``empty_profile`` is WeChat since 2021-10-20: no sex,
    region or privilege; ``False`` gives the older, fuller profile.
    """

    appid: str
    secret: str
    kind: str = "website"
    bound: bool = True
    domain: str = DEFAULT_DOMAIN
    empty_profile: bool = True
    #: An Official Account that is a verified service account (or the test
    #: account): parametric QR codes and ``user/info``. ``False``: a
    #: subscription account, which WeChat answers 48001 there.
    verified: bool = True


@dataclass
class Code:
    appid: str
    user: FakeUser
    scope: str
    snapshot: bool
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    appid: str
    openid: str
    unionid: str | None
    scope: str
    user: FakeUser
    snapshot: bool
    refresh_token: str
    refresh_expires_at: float
    access_token: str


@dataclass
class Access:
    grant: Grant
    expires_at: float


def _names(zh_cn: str, zh_tw: str, en: str) -> dict[str, str]:
    return {"zh_CN": zh_cn, "zh_TW": zh_tw, "en": en}


def sample_users() -> list[FakeUser]:
    avatar = "https://thirdwx.qlogo.cn/mmopen/vi_32/{}/132".format
    china = _names("中国", "中國", "China")
    return [
        FakeUser(
            "zhangsan",
            "张三😀",
            avatar("zhangsan"),
            sex=1,
            province=_names("广东", "廣東", "Guangdong"),
            city=_names("深圳", "深圳", "Shenzhen"),
            country=china,
        ),
        FakeUser(
            "alice",
            "Alice Smith",
            avatar("alice"),
            sex=2,
            province=_names("上海", "上海", "Shanghai"),
            city=_names("徐汇", "徐匯", "Xuhui"),
            country=china,
            privilege=("chinaunicom",),
        ),
        FakeUser("wangwu", "王五", ""),
    ]


def _digest(*parts: str) -> str:
    raw = hashlib.sha256("\0".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def host_of(url: str) -> str:
    """The host (and port, if any) of ``url``, as a callback domain names it.

    ``""`` when ``url`` has none, or a port that is not a number.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    return f"{host}:{port}" if host and port is not None else host


def checked_domain(domain: str) -> str:
    """``domain`` as WeChat's console takes it: a bare host (or ``host:port``)."""
    if not domain or host_of(f"http://{domain}/") != domain.lower():
        raise ValueError(f"a callback domain is a host, or host:port, not {domain!r}")
    return domain.lower()


class Model:
    """The fake's state. Thread-safe through ``_lock``; see :meth:`reset`."""

    website_app: FakeApp
    mp_app: FakeApp
    #: The Open Platform mobile app (kind ``"app"``).
    mobile_app: FakeApp
    #: The mini program (kind ``"miniprogram"``).
    miniprogram: FakeApp
    users: list[FakeUser]
    user: FakeUser
    #: Official Account ``snsapi_userinfo`` logins become snapshot-page users.
    snapshot: bool

    def __init__(self, clock: Callable[[], float] | None, domain: str) -> None:
        self._clock = clock or time.monotonic
        self._domain = checked_domain(domain)
        self._lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()
        self.users = []

    def _reset_model(self) -> None:
        """Called by ``reset`` with the lock held."""
        self.website_app = FakeApp(
            "wx5f2b8e9c1d3a7b60", "3f9c2e7a1b4d6f8e0a2c4e6b8d0f1a3c", "website", domain=self._domain
        )
        self.mp_app = FakeApp(
            "wx9c3e7a1b5d2f8064", "c1e3a5b7d9f0e2c4a6b8d0f2e4c6a8b9", "mp", domain=self._domain
        )
        self.mobile_app = FakeApp(
            "wx2d8f4a6c0e1b3d57", "8e0a2c4e6b8d0f1a3c5e7b9d1f3a5c7e", "app", domain=self._domain
        )
        self.miniprogram = FakeApp(
            "wx7b1d3f5a9c2e4068",
            "5a7c9e1b3d5f7a9c0e2b4d6f8a0c2e4b",
            "miniprogram",
            domain=self._domain,
        )
        samples = (self.website_app, self.mp_app, self.mobile_app, self.miniprogram)
        self._apps = {app.appid: app for app in samples}
        self.users[:] = sample_users()
        self.user = self.users[0]
        self.snapshot = False
        self.calls.clear()
        self._codes: dict[str, Code] = {}
        self._access: dict[str, Access] = {}
        self._refresh: dict[str, Grant] = {}
        self._offset = 0.0
        self._blocked: set[str] = set()
        self._session_keys: dict[tuple[str, str], str] = {}
        self._jscode_calls: dict[str, collections.deque[float]] = {}

    def add_app(
        self,
        appid: str,
        secret: str,
        *,
        kind: str = "website",
        bound: bool = True,
        domain: str = DEFAULT_DOMAIN,
        empty_profile: bool = True,
        verified: bool = True,
    ) -> FakeApp:
        """Register an app, replacing any with the same ``appid``."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        app = FakeApp(appid, secret, kind, bound, checked_domain(domain), empty_profile, verified)
        with self._lock:
            self._apps[appid] = app
            for name in ("website_app", "mp_app", "mobile_app", "miniprogram"):
                if appid == getattr(self, name).appid:
                    setattr(self, name, app)
        return app

    def set_domain(self, domain: str) -> None:
        """Make ``domain`` the sample apps' callback domain, until :meth:`reset`."""
        for app in (self.website_app, self.mp_app):
            self.add_app(
                app.appid,
                app.secret,
                kind=app.kind,
                bound=app.bound,
                domain=domain,
                empty_profile=app.empty_profile,
                verified=app.verified,
            )

    def app_for(self, appid: str) -> FakeApp | None:
        with self._lock:
            return self._apps.get(appid)

    def openid(self, user: FakeUser, appid: str) -> str:
        """The user's openid in one app: 28 characters, deterministic."""
        return "o" + _digest("app", appid)[:5] + _digest("openid", appid, user.key)[:22]

    def unionid(self, user: FakeUser) -> str:
        """The user's unionid, the same in every bound app."""
        return "o" + _digest("unionid", user.key)[:27]

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: codes and tokens expire."""
        with self._lock:
            self._offset += seconds

    def _now(self) -> float:
        return self._clock() + self._offset

    def _mint_code(self, app: FakeApp, user: FakeUser, scope: str) -> str:
        """A fresh code for ``user``'s approval: 32 characters, single use."""
        snapshot = self.snapshot and app.kind == "mp" and scope == "snsapi_userinfo"
        code = "".join(secrets.choice(ALNUM) for _ in range(32))
        with self._lock:
            self._codes[code] = Code(
                app.appid, user, scope, snapshot, self._now() + CODE_TTL[app.kind]
            )
        return code

    def app_code(self, user: FakeUser | None = None, app: FakeApp | None = None) -> str:
        """The code OpenSDK's ``SendAuth`` hands the mobile app once ``user`` approves.

        ``user`` defaults to :attr:`user`, ``app`` to :attr:`mobile_app`. Redeem
        it at ``sns/oauth2/access_token`` with that app's pair, once, within
        10 minutes; the grant's scope is ``snsapi_userinfo``.
        """
        app = _of_kind(app or self.mobile_app, "app")
        return self._mint_code(app, user or self.user, "snsapi_userinfo")

    def miniprogram_code(self, user: FakeUser | None = None, app: FakeApp | None = None) -> str:
        """The code ``wx.login`` gives ``user`` in the mini program.

        ``user`` defaults to :attr:`user`, ``app`` to :attr:`miniprogram`.
        Redeem it at ``sns/jscode2session`` with that app's pair, once, within
        5 minutes.
        """
        app = _of_kind(app or self.miniprogram, "miniprogram")
        return self._mint_code(app, user or self.user, "")

    def block(self, user: FakeUser) -> None:
        """Have WeChat's risk control block ``user`` (40226 from ``jscode2session``) until reset."""
        with self._lock:
            self._blocked.add(user.key)

    def session_key(self, user: FakeUser, app: FakeApp | None = None) -> str | None:
        """The ``session_key`` ``jscode2session`` gave ``user`` last, if any.

        ``app`` defaults to :attr:`miniprogram`. For tests that check it
        never leaks.
        """
        appid = (app or self.miniprogram).appid
        with self._lock:
            return self._session_keys.get((user.key, appid))

    def _over_quota(self, user: FakeUser) -> bool:
        """Count a ``jscode2session`` call of ``user``'s; True past the minute's quota.

        A refused call is not counted: a client that waits a minute gets in.
        """
        now = self._now()
        calls = self._jscode_calls.setdefault(user.key, collections.deque())
        while calls and calls[0] <= now - 60:
            calls.popleft()
        if len(calls) >= JSCODE_PER_MINUTE:
            return True
        calls.append(now)
        return False

    def _user_named(self, key: str | None) -> FakeUser | None:
        """The user called ``key``, made up on first use (one per load-test browser)."""
        if not key or len(key) > 32 or not key.replace("-", "").replace("_", "").isalnum():
            return None
        with self._lock:
            for user in self.users:
                if user.key == key:
                    return user
            user = FakeUser(key, f"用户 {key}")
            self.users.append(user)
            return user


def _of_kind(app: FakeApp, kind: str) -> FakeApp:
    if app.kind != kind:
        raise ValueError(f"app {app.appid} is a {app.kind!r} app, not {kind!r}")
    return app
