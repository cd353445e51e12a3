"""Pending logins, kept in the Flask session under one small key.

Each login started in this browser gets a random ``state`` (alphanumeric, as
WeChat's in-app flow requires) stored with what the callback needs: which
app issued it, where to go after, when it expires. Pending logins are
capped, so the session cookie stays small however many tabs are opened.
Used and evicted states leave a short fingerprint, so a failed callback can
say why it failed, and a callback that arrives twice after success can be
answered with the same redirect without a second code exchange.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import typing as t
from dataclasses import dataclass

from . import _session
from .errors import StateMismatchError

SESSION_KEY = "_wechat_web_logins"

#: At most this many logins wait for WeChat in one browser.
MAX_PENDING = 10
#: ... and together they take at most this many bytes of JSON.
MAX_PENDING_BYTES = 1600
#: How many used and evicted states are remembered, to explain a failure.
_USED_MEMORY = 5
_EVICTED_MEMORY = 20

_ALPHABET = string.ascii_letters + string.digits
_STATE_LENGTH = 32  # base-62 digits: about 190 bits
_STATE_BYTES = 32  # 256 random bits, so the digits are uniform to within 2**-65


@dataclass(frozen=True)
class PendingLogin:
    """What the callback needs to finish one login."""

    state: str
    flow: str  # "qr" or "mp": whose credentials redeem the code
    next: str
    expires_at: float
    #: Started from an embedded QR whose callback loads inside its iframe.
    in_frame: bool = False


@dataclass(frozen=True)
class Replay:
    """A callback seen before in this browser: where it went, if it succeeded."""

    target: str | None


def new_state() -> str:
    """32 characters of ``[A-Za-z0-9]`` from one read of the OS's randomness."""
    number = int.from_bytes(secrets.token_bytes(_STATE_BYTES), "big")
    chars = []
    for _ in range(_STATE_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _load() -> dict[str, list[t.Any]]:
    data = _session.load(SESSION_KEY)
    if not isinstance(data, dict):
        return {"p": [], "u": [], "e": []}
    return {key: list(data.get(key) or []) for key in ("p", "u", "e")}


def _save(data: dict[str, list[t.Any]]) -> None:
    _session.save(SESSION_KEY, data)


def add(
    flow: str, next_url: str, now: float, ttl: float, *, in_frame: bool = False, prefix: str = ""
) -> PendingLogin:
    """Start a login: remember a new state, evicting the oldest over the cap."""
    login = PendingLogin(prefix + new_state(), flow, next_url, now + ttl, in_frame)
    data = _load()
    pending = [p for p in data["p"] if _valid_entry(p)]
    pending.append([login.state, login.flow, login.next, login.expires_at, int(in_frame)])
    evicted = data["e"]
    while len(pending) > MAX_PENDING or (
        len(pending) > 1 and len(json.dumps(pending)) > MAX_PENDING_BYTES
    ):
        evicted.append(_fingerprint(pending.pop(0)[0]))
    data["p"], data["e"] = pending, evicted[-_EVICTED_MEMORY:]
    _save(data)
    return login


def take(state: str, code: str | None, now: float, *, cookie_sent: bool) -> PendingLogin | Replay:
    """Consume ``state``: its pending login, a ``Replay``, or ``StateMismatchError``.

    A state is single use: it is removed whatever happens next, and remembered
    as used so a second arrival can be told apart from a forgery.
    """
    data = _load()
    for entry in data["p"]:
        if _valid_entry(entry) and hmac.compare_digest(entry[0], state):
            data["p"].remove(entry)
            used = data["u"] + [[_fingerprint(state), _code_print(code), None]]
            data["u"] = used[-_USED_MEMORY:]
            _save(data)
            login = PendingLogin(entry[0], entry[1], entry[2], entry[3], bool(entry[4]))
            if login.expires_at <= now:
                raise StateMismatchError("expired")
            return login
    fingerprint = _fingerprint(state)
    for used in data["u"]:
        if not (isinstance(used, list) and len(used) == 3):
            continue
        used_state, used_code, target = used
        if hmac.compare_digest(str(used_state), fingerprint):
            if target and code and hmac.compare_digest(str(used_code), _code_print(code)):
                return Replay(target)
            raise StateMismatchError("used")
    if fingerprint in data["e"]:
        raise StateMismatchError("evicted")
    raise StateMismatchError("unknown" if cookie_sent else "no_cookie")


def succeeded(state: str, target: str) -> None:
    """Remember where the login with ``state`` went, to answer a repeat the same way."""
    data = _load()
    fingerprint = _fingerprint(state)
    for entry in data["u"]:
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == fingerprint:
            entry[2] = target
    _save(data)


def _code_print(code: str | None) -> str:
    return _fingerprint(code) if code else ""


def _valid_entry(entry: t.Any) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 5
        and isinstance(entry[0], str)
        and entry[1] in ("qr", "mp")
        and isinstance(entry[2], str)
        and isinstance(entry[3], (int, float))
    )
