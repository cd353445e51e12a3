"""The extension's data in the Flask session: one key, read once and written once.

Everything the extension keeps between requests (pending logins, the memory
of used states, the WeChat account this browser logged in with, the token
under ``SessionStorage``, the built-in user's profile) is one compact JSON
string under one session key, so each value is stored once. Flask's session
serializer tags every nested value on every save; a string is one leaf, and
it keeps our data opaque.

The first use in a request parses the string; changes are written back once,
just before Flask saves the session (``after_this_request``), however many
parts of the extension changed something.
"""

from __future__ import annotations

import json
import typing as t

from flask import after_this_request, current_app, request, session
from flask.sessions import NullSession
from werkzeug.wrappers import Response

from .errors import ConfigurationError

KEY = "_wechat_web"

#: The most the extension's value may take in the session cookie's JSON,
#: escapes counted. With Flask-Login's keys and a flashed message it stays
#: under browsers' 4,093-byte cookie limit once base64-encoded, with room
#: left for the site's own session values.
BUDGET = 2200

_ENVIRON_KEY = "flask_wechat_web.session"
_DEFAULT_SCOPE = "snsapi_login"

#: The fix for an app whose session Flask cannot sign.
NO_SESSION = (
    "SECRET_KEY is not set: the login's state is kept in the session, which "
    "Flask cannot sign without it. Set app.config['SECRET_KEY'] to a long random "
    "value (python -c 'import secrets; print(secrets.token_hex())'), or set up a "
    "server-side session (Flask-Session) before WeChatWeb."
)


#: The fields, stored by position (their names would be paid for in every
#: cookie), the ones of a logged-in browser first: the WeChat account
#: (openid, unionid, scope, appid), the token's secrets under
#: ``SessionStorage``, the built-in user's profile, the last successful
#: callback (to answer a repeat), used-state fingerprints, pending logins,
#: evicted-state fingerprints, the bearer token this session was given, the
#: scene of the follow sign-in's QR code this browser waits on, the code
#: sign-in's form token and times of wrong codes.
FIELDS = (
    "account",
    "token",
    "profile",
    "replay",
    "used",
    "pending",
    "evicted",
    "api",
    "follow",
    "code",
)


class SessionData:
    """This request's view of the extension's session value, by field name."""

    def __init__(self, owner: t.Any) -> None:
        self._owner = owner  # the session object this was read from
        raw = owner.get(KEY)
        stored: t.Any = None
        if isinstance(raw, str):
            try:
                stored = json.loads(raw)
            except ValueError:
                stored = None
        if not isinstance(stored, list):
            stored = []
        self._values: dict[str, t.Any] = {
            name: value for name, value in zip(FIELDS, stored, strict=False) if value != 0
        }
        self._dirty = False
        self._flushed = False

    def get(self, name: str) -> t.Any:
        return self._values.get(name)

    def set(self, name: str, value: t.Any) -> None:
        """Set field ``name``; ``None`` or empty removes it."""
        if value in (None, "", [], {}):
            if name not in self._values:
                return
            del self._values[name]
        else:
            self._values[name] = value
        self._changed()

    def size(self) -> int:
        """What the value takes in Flask's session JSON, escapes counted."""
        return cost(self._stored())

    def account(self) -> tuple[str, str, str | None, str] | None:
        """The WeChat account this browser logged in with: appid, openid, unionid, scope."""
        account = self._values.get("account")
        if not (isinstance(account, list) and 1 <= len(account) <= 4 and account[0]):
            return None
        openid, unionid, scope, appid = [*account, "", "", ""][:4]
        if not all(isinstance(part, str) for part in (openid, unionid, scope, appid)):
            return None
        return (
            appid or current_app.config["WECHAT_WEB_APPID"],
            openid,
            unionid or None,
            scope or _DEFAULT_SCOPE,
        )

    def set_account(self, ids: t.Mapping[str, t.Any]) -> None:
        """Remember the account of ``ids`` (a token or an identity's fields).

        Stored as ``[openid, unionid, scope, appid]``, with the ``snsapi_login``
        scope and the website app's AppID (it is in the config) as ``""``, and
        empty ends left off.
        """
        appid, openid, unionid = ids["appid"], ids["openid"], ids.get("unionid")
        current = self.account()
        if not unionid and current and current[:2] == (appid, openid):
            unionid = current[2]  # a token without it: the same account still has one
        scope = ids.get("scope") or (current[3] if current else _DEFAULT_SCOPE)
        account = [
            openid,
            unionid or "",
            "" if scope == _DEFAULT_SCOPE else scope,
            "" if appid == current_app.config["WECHAT_WEB_APPID"] else appid,
        ]
        while not account[-1]:
            account.pop()
        self.set("account", account)

    def _stored(self) -> list[t.Any]:
        """The fields by position, ``0`` for an empty one, trailing ones left off."""
        stored = [self._values.get(name, 0) for name in FIELDS]
        while stored and stored[-1] == 0:
            stored.pop()
        return stored

    def _dump(self) -> str:
        return _compact(self._stored())

    def _changed(self) -> None:
        if isinstance(self._owner, NullSession):
            raise ConfigurationError(NO_SESSION)
        if self._flushed:
            # Changed by a hook that runs after our flush: write through.
            self._write()
            return
        if not self._dirty:
            self._dirty = True
            after_this_request(self._flush)

    def _flush(self, response: Response) -> Response:
        self._flushed = True
        if self._dirty:
            self._write()
        return response

    def _write(self) -> None:
        self._dirty = False
        if self._values:
            self._owner[KEY] = self._dump()
        else:
            self._owner.pop(KEY, None)


def _compact(value: t.Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def cost(value: t.Any) -> int:
    """What ``value`` takes in Flask's session JSON once stored in our string.

    Flask writes the string with ``\\uXXXX`` for non-ASCII and ``\\"`` for quotes.
    """
    return len(json.dumps(_compact(value)))


def data() -> SessionData:
    """This request's :class:`SessionData`, read from the session on first use."""
    owner = session._get_current_object()  # type: ignore[attr-defined]
    cached = request.environ.get(_ENVIRON_KEY)
    if cached is None or cached._owner is not owner:
        cached = request.environ[_ENVIRON_KEY] = SessionData(owner)
    return t.cast(SessionData, cached)
