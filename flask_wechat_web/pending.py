"""Pending logins, kept in the extension's session value (see ``_session``).

Each login started in this browser gets a random ``state`` (alphanumeric, as
WeChat's in-app flow requires) stored with what the callback needs: which
app issued it, where to go after, when it expires. Pending logins are
capped in number and, with everything else the extension keeps in the
session, in bytes (:data:`~flask_wechat_web._session.BUDGET`), so the
session cookie stays small however many tabs are opened and however long
their ``next``. Used and evicted states leave a short fingerprint, so a
failed callback can say why it failed; the last successful callback is
remembered, so one that arrives twice can be answered with the same
redirect without a second code exchange.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import typing as t
from dataclasses import dataclass

from . import _session
from .errors import StateMismatchError

#: At most this many logins wait for WeChat in one browser.
MAX_PENDING = 10
#: How many used and evicted states are remembered, to explain a failure.
_USED_MEMORY = 3
_EVICTED_MEMORY = 20

_ALPHABET = string.ascii_letters + string.digits
_STATE_LENGTH = 32  # base-62 digits: about 190 bits
_STATE_BYTES = 32  # 256 random bits, so the digits are uniform to within 2**-65
_PRINT_LENGTH = 4  # hex digits of a fingerprint: enough to tell the few remembered apart


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
    """A callback that succeeded before in this browser: where it went."""

    target: str


def new_state() -> str:
    """32 characters of ``[A-Za-z0-9]`` from one read of the OS's randomness."""
    number = int.from_bytes(secrets.token_bytes(_STATE_BYTES), "big")
    chars = []
    for _ in range(_STATE_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _fingerprint(value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:_PRINT_LENGTH]


def _prints(data: _session.SessionData, name: str) -> list[str]:
    """The fingerprints kept in field ``name``, one string of fixed-width prints."""
    joined = data.get(name)
    if not isinstance(joined, str):
        return []
    return [joined[i : i + _PRINT_LENGTH] for i in range(0, len(joined), _PRINT_LENGTH)]


def _remember(data: _session.SessionData, name: str, fingerprint: str, keep: int) -> None:
    data.set(name, "".join([*_prints(data, name), fingerprint][-keep:]))


def _pending(data: _session.SessionData) -> list[list[t.Any]]:
    return [entry for entry in data.get("pending") or [] if _valid_entry(entry)]


def add(
    flow: str, next_url: str, now: float, ttl: float, *, in_frame: bool = False, prefix: str = ""
) -> PendingLogin:
    """Start a login: remember a new state, evicting the oldest over the caps."""
    login = PendingLogin(prefix + new_state(), flow, next_url, int(now + ttl), in_frame)
    data = _session.data()
    entries = _pending(data)
    entries.append([login.state, login.flow, login.next, login.expires_at, int(in_frame)])
    while len(entries) > MAX_PENDING:
        _remember(data, "evicted", _fingerprint(entries.pop(0)[0]), _EVICTED_MEMORY)
    data.set("pending", entries)
    _fit(data)
    return login


def _fit(data: _session.SessionData) -> None:
    """Keep the session value within its budget.

    The oldest pending logins go first (their states are remembered as
    evicted), then the memory of the last success; the newest pending login
    always stays.
    """
    while data.size() > _session.BUDGET:
        entries = _pending(data)
        if len(entries) > 1:
            _remember(data, "evicted", _fingerprint(entries.pop(0)[0]), _EVICTED_MEMORY)
            data.set("pending", entries)
        elif data.get("replay"):
            _forget_replay(data)
        else:
            return


def take(state: str, code: str | None, now: float, *, cookie_sent: bool) -> PendingLogin | Replay:
    """Consume ``state``: its pending login, a ``Replay``, or ``StateMismatchError``.

    A state is single use: it is removed whatever happens next, and remembered
    as used so a second arrival can be told apart from a forgery.
    """
    data = _session.data()
    entries = _pending(data)
    for entry in entries:
        if hmac.compare_digest(entry[0], state):
            entries.remove(entry)
            data.set("pending", entries)
            _remember(data, "used", _fingerprint(state), _USED_MEMORY)
            login = PendingLogin(entry[0], entry[1], entry[2], entry[3], bool(entry[4]))
            if login.expires_at <= now:
                raise StateMismatchError("expired")
            return login
    fingerprint = _fingerprint(state)
    replay = _replay(data)
    if replay is not None and hmac.compare_digest(replay[0], fingerprint):
        if code and hmac.compare_digest(replay[1], _fingerprint(code)):
            return Replay(replay[2])
        raise StateMismatchError("used")
    if fingerprint in _prints(data, "used"):
        raise StateMismatchError("used")
    if fingerprint in _prints(data, "evicted"):
        raise StateMismatchError("evicted")
    raise StateMismatchError("unknown" if cookie_sent else "no_cookie")


def succeeded(state: str, code: str, target: str) -> None:
    """Remember where the login with ``state`` and ``code`` went, to answer a repeat.

    The state's fingerprint moves from the used ones into this memory.
    """
    data = _session.data()
    fingerprint = _fingerprint(state)
    _forget_replay(data)
    data.set("used", "".join(p for p in _prints(data, "used") if p != fingerprint))
    data.set("replay", fingerprint + _fingerprint(code) + target)  # target: a path
    _fit(data)


def _replay(data: _session.SessionData) -> tuple[str, str, str] | None:
    """The last success: its state's and code's fingerprints, and its target."""
    replay = data.get("replay")
    if not isinstance(replay, str) or len(replay) <= 2 * _PRINT_LENGTH:
        return None
    return (
        replay[:_PRINT_LENGTH],
        replay[_PRINT_LENGTH : 2 * _PRINT_LENGTH],
        replay[2 * _PRINT_LENGTH :],
    )


def _forget_replay(data: _session.SessionData) -> None:
    """Drop the memory of the last success; its state is still remembered as used."""
    replay = _replay(data)
    if replay is not None:
        _remember(data, "used", replay[0], _USED_MEMORY)
        data.set("replay", None)


def _valid_entry(entry: t.Any) -> bool:
    return (
        isinstance(entry, list)
        and len(entry) == 5
        and isinstance(entry[0], str)
        and entry[1] in ("qr", "mp")
        and isinstance(entry[2], str)
        and isinstance(entry[3], (int, float))
    )
