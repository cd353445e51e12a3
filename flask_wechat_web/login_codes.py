"""One-time sign-in codes, kept in ``WECHAT_WEB_STORE``: issued to a follower, spent by a browser.

A code is 8 random digits (``secrets``, nothing of the openid). The first 4
name the record (``wechat_web:code:<first4>``, taken with :func:`add_once`,
drawn again on a collision); the last 4 are checked in constant time. A
record holds the openid, the check digits, its expiry and its wrong
attempts; it is spent (or burned after :data:`WRONG_PER_CODE` wrong check
digits) under :func:`store_lock`, so two browsers cannot both spend it.

Guessing is bounded three ways besides the code's own 5 tries: per account
(:data:`CODES_PER_ACCOUNT` codes, :data:`WRONG_PER_ACCOUNT` wrong attempts
at its codes), per client address (:data:`WRONG_PER_ADDRESS`, in the store,
so dropping cookies resets nothing) and, in the view, per browser session.
Expiry is read on the extension's clock, so tests can move it.
"""

from __future__ import annotations

import hmac
import re
import secrets
import typing as t
import unicodedata

from . import limits
from .errors import WeChatUnavailableError
from .limits import Wait, count, over, record, wait_for
from .locks import add_once, store_lock

if t.TYPE_CHECKING:
    from .state import WeChatWebState

#: Wrong check digits that burn a code.
WRONG_PER_CODE = 5
#: Codes one account gets per :data:`CODES_WINDOW` seconds.
CODES_PER_ACCOUNT, CODES_WINDOW = 5, 600
#: Wrong attempts at one account's codes per :data:`ACCOUNT_WRONG_WINDOW` seconds.
WRONG_PER_ACCOUNT, ACCOUNT_WRONG_WINDOW = 10, 3600
#: Wrong codes one client address may enter per :data:`ADDRESS_WINDOW` seconds.
WRONG_PER_ADDRESS, ADDRESS_WINDOW = 20, 600
#: Draws of a free record name before giving up (10,000 live codes fill them all).
_DRAWS = 20
_PREFIX = "wechat_web:code:"
_MAX_TYPED = 64
_TYPED = re.compile(r"[0-9]{8}")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u3000]+")


class WrongCode(Exception):
    """Unknown, expired, spent or burned, or wrong check digits: the browser is told the same."""


def shown(code: str) -> str:
    """``12345678`` as people read it: ``1234 5678``."""
    return f"{code[:4]} {code[4:]}"


def typed(text: str) -> str | None:
    """The 8 digits of what a person typed (spaces and dashes dropped), else ``None``.

    A Chinese input method may type full-width digits (１２３４): NFKC makes them ASCII.
    """
    if len(text) > _MAX_TYPED:
        return None
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    return digits if _TYPED.fullmatch(digits) else None


def issue(state: WeChatWebState, openid: str) -> str:
    """A new code for the follower ``openid``: 8 digits; :class:`Wait` past the bounds."""
    now = state.extension.clock()
    wrong = count(state, limits.key("code_wrong", openid), ACCOUNT_WRONG_WINDOW)
    if len(wrong) >= WRONG_PER_ACCOUNT:
        raise wait_for(wrong, now, ACCOUNT_WRONG_WINDOW)
    issued_key = limits.key("code_issued", openid)
    issued = count(state, issued_key, CODES_WINDOW)
    if len(issued) >= CODES_PER_ACCOUNT:
        raise wait_for(issued, now, CODES_WINDOW)
    ttl = int(state.config["WECHAT_WEB_CODE_TTL"])
    for _ in range(_DRAWS):
        code = f"{secrets.randbelow(10**8):08d}"
        entry = {"openid": openid, "check": code[4:], "expires": now + ttl, "wrong": 0}
        if add_once(state, _PREFIX + code[:4], entry, timeout=ttl + 60):
            record(state, issued_key, CODES_WINDOW)
            return code
    raise WeChatUnavailableError("Every code record is taken; try again in a few minutes.")


def address_wait(state: WeChatWebState, address: str) -> Wait | None:
    """Whether the client at ``address`` has had its wrong codes for now."""
    return over(state, limits.key("code_address", address), WRONG_PER_ADDRESS, ADDRESS_WINDOW)


def spend(state: WeChatWebState, code: str, address: str) -> str:
    """The openid of ``code``, which is spent; :class:`WrongCode` otherwise.

    A wrong code counts against ``address``; wrong check digits also against
    the code (burned at the 5th) and its account.
    """
    key = _PREFIX + code[:4]
    now = state.extension.clock()
    openid = None
    with store_lock(state, key), state.store_calls() as store:
        entry = store.get(key)
        if isinstance(entry, dict) and entry["expires"] > now:
            if hmac.compare_digest(entry["check"], code[4:]):
                store.delete(key)
                return t.cast(str, entry["openid"])
            openid = entry["openid"]
            entry["wrong"] += 1
            if entry["wrong"] >= WRONG_PER_CODE:
                store.delete(key)
            else:
                store.set(key, entry, timeout=int(entry["expires"] - now) + 60)
    if openid is not None:
        record(state, limits.key("code_wrong", openid), ACCOUNT_WRONG_WINDOW)
    record(state, limits.key("code_address", address), ADDRESS_WINDOW)
    raise WrongCode()
