"""Who logged in: ``WeChatIdentity``, and the built-in ``WeChatUser``."""

from __future__ import annotations

import threading
import typing as t
from dataclasses import FrozenInstanceError

from flask_login import UserMixin

from . import scopes

ProfileLoader = t.Callable[[], t.Mapping[str, t.Any]]


class WeChatIdentity:
    """An immutable record of one WeChat login.

    The ids (``appid``, ``openid``, ``unionid``, ``scope``,
    ``is_snapshot_user``) come from the token call; ``source`` names the way
    in: ``"qr"`` (the website app), ``"mp"`` (the Official Account),
    ``"app"`` (the mobile app), ``"miniprogram"``. The profile (``nickname``,
    ``headimgurl``, ``sex``, ``province``, ``city``, ``country``,
    ``privilege``, ``raw``) comes from ``sns/userinfo``, fetched the first
    time one of those fields is read: a handler that finds its user by
    ``unionid``/``openid`` alone logs the user in with one call to WeChat
    instead of two. Profile fields are ``None`` under ``snsapi_base``.

    Built by hand (in tests, say), profile fields given as arguments are
    merged into ``raw``.
    """

    __slots__ = (
        "appid",
        "openid",
        "unionid",
        "scope",
        "is_snapshot_user",
        "source",
        "_profile",
        "_loader",
        "_lock",
    )

    appid: str
    openid: str
    unionid: str | None
    scope: str
    is_snapshot_user: bool
    source: str
    _profile: dict[str, t.Any] | None
    _loader: ProfileLoader | None
    _lock: threading.Lock

    def __init__(
        self,
        appid: str,
        openid: str,
        unionid: str | None = None,
        scope: str = "snsapi_login",
        nickname: str | None = None,
        headimgurl: str | None = None,
        sex: int | None = None,
        province: str | None = None,
        city: str | None = None,
        country: str | None = None,
        privilege: t.Iterable[str] | None = None,
        is_snapshot_user: bool = False,
        raw: t.Mapping[str, t.Any] | None = None,
        *,
        source: str = "qr",
        load_userinfo: ProfileLoader | None = None,
    ) -> None:
        given = {
            "nickname": nickname,
            "headimgurl": headimgurl,
            "sex": sex,
            "province": province,
            "city": city,
            "country": country,
            "privilege": None if privilege is None else list(privilege),
        }
        given = {name: value for name, value in given.items() if value is not None}
        profile = None if raw is None and not given else {**(raw or {}), **given}
        values = {
            "appid": appid,
            "openid": openid,
            "unionid": unionid or None,
            "scope": scope,
            "is_snapshot_user": bool(is_snapshot_user),
            "source": source,
            "_profile": profile,
            "_loader": load_userinfo,
            "_lock": threading.Lock(),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: t.Any) -> None:
        raise FrozenInstanceError(f"WeChatIdentity is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"WeChatIdentity is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeChatIdentity):
            return NotImplemented
        return (self.appid, self.openid) == (other.appid, other.openid)

    def __hash__(self) -> int:
        return hash((self.appid, self.openid))

    def __repr__(self) -> str:
        return (
            f"WeChatIdentity(appid={self.appid!r}, openid={self.openid!r}, "
            f"unionid={self.unionid!r}, scope={self.scope!r}, source={self.source!r})"
        )

    @property
    def has_profile(self) -> bool:
        """Whether the scope gives a profile: it holds ``snsapi_userinfo`` or ``snsapi_login``.

        The scope is a comma-separated set; empty items are ignored.
        """
        return scopes.gives_profile(self.scope)

    @property
    def raw(self) -> dict[str, t.Any]:
        """The ``sns/userinfo`` answer as received (empty under ``snsapi_base``).

        A copy: changing it changes nothing here.
        """
        return dict(self._userinfo())

    def _userinfo(self) -> t.Mapping[str, t.Any]:
        profile = self._profile
        if profile is None:
            with self._lock:
                profile = self._profile
                if profile is None:
                    loaded = self._loader() if self._loader and self.has_profile else {}
                    profile = dict(loaded)
                    object.__setattr__(self, "_profile", profile)
                    object.__setattr__(self, "_loader", None)
        return profile

    @property
    def profile_loaded(self) -> bool:
        """Whether ``sns/userinfo`` was called (or given) for this identity."""
        return self._profile is not None

    def _text(self, name: str) -> str | None:
        value = self._userinfo().get(name)
        return None if value is None else str(value)

    @property
    def nickname(self) -> str | None:
        """The WeChat nickname (UTF-8, may hold emoji: store it in a 4-byte-safe column)."""
        return self._text("nickname")

    @property
    def headimgurl(self) -> str | None:
        """The avatar URL (``""`` without one); it dies when the user changes avatar."""
        return self._text("headimgurl")

    @property
    def province(self) -> str | None:
        """In ``WECHAT_WEB_LANG``; ``""`` for apps created after WeChat's 2021 change."""
        return self._text("province")

    @property
    def city(self) -> str | None:
        """Like :attr:`province`."""
        return self._text("city")

    @property
    def country(self) -> str | None:
        """Like :attr:`province`."""
        return self._text("country")

    @property
    def sex(self) -> int | None:
        """1 male, 2 female, 0 unknown (always 0 since WeChat's 2021 change)."""
        value = self._userinfo().get("sex")
        try:
            return None if value is None else int(value)
        except (TypeError, ValueError):
            return 0

    @property
    def privilege(self) -> tuple[str, ...] | None:
        """Special privileges such as ``("chinaunicom",)``; usually empty."""
        userinfo = self._userinfo()
        value = userinfo.get("privilege")
        if value is None:
            return None if not userinfo else ()
        return tuple(str(item) for item in value)

    def to_dict(self) -> dict[str, t.Any]:
        """The ids and the profile as plain data (reads the profile)."""
        return {
            "appid": self.appid,
            "openid": self.openid,
            "unionid": self.unionid,
            "scope": self.scope,
            "is_snapshot_user": self.is_snapshot_user,
            "source": self.source,
            "userinfo": self.raw,
        }

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> WeChatIdentity:
        """The identity :meth:`to_dict` gave."""
        return cls(
            data["appid"],
            data["openid"],
            data.get("unionid"),
            data.get("scope", "snsapi_login"),
            is_snapshot_user=data.get("is_snapshot_user", False),
            raw=data.get("userinfo") or {},
            source=data.get("source", "qr"),
        )


class WeChatUser(UserMixin):  # type: ignore[misc]
    """The user logged in when the site registers no ``user_handler``.

    Its ``id`` is ``unionid or openid``, so one person logging in through the
    website app and the Official Account is one user when both apps are bound
    to one Open Platform account. It is kept in the session, so a site with
    no database works out of the box.
    """

    def __init__(self, identity: WeChatIdentity) -> None:
        self.identity = identity
        self.id = identity.unionid or identity.openid
        self.openid = identity.openid
        self.unionid = identity.unionid
        self.appid = identity.appid
        self.source = identity.source
        self.nickname = identity.nickname
        self.headimgurl = identity.headimgurl
        self.sex = identity.sex
        self.province = identity.province
        self.city = identity.city
        self.country = identity.country
        self.privilege = identity.privilege

    def get_id(self) -> str:
        return str(self.id)

    def __repr__(self) -> str:
        return f"<WeChatUser {self.id!r} {self.nickname!r}>"
