"""The follow sign-in's scenes: one QR code each, kept in ``WECHAT_WEB_STORE``.

A scene is made for one browser (its session keeps the scene's name) and
names one temporary QR code of the Official Account. Its record says what
became of it: ``waiting`` for a scan, ``scanned`` (awaiting a confirmation
in WeChat; ``scanners`` holds who scanned), ``confirmed`` (by ``openid``),
``spent`` (the waiting browser logged in with it) or ``used`` (canceled in
WeChat). Every change is made under a :func:`~.locks.store_lock` of its
own, so two scans, two confirmations or two polls never both win. The
expiry is ours (``expires_at``), not WeChat's ``expire_seconds``.
"""

from __future__ import annotations

import re
import secrets
import typing as t

from .locks import store_lock

if t.TYPE_CHECKING:
    from .state import WeChatWebState

#: Every scene of ours starts so: other QR codes of the account share the namespace.
PREFIX = "wwl_"
SCENE_FORMAT = re.compile(r"wwl_[A-Za-z0-9_-]{32}")
#: How long a record outlives its QR code, to tell "expired" from "unknown".
_GRACE = 600
#: At most this many people may scan one QR code before one of them confirms.
MAX_SCANNERS = 5
_KEY = "wechat_web:follow:"

Record = dict[str, t.Any]


def new_scene() -> str:
    """``wwl_`` and 32 random URL-safe characters (24 bytes: 192 bits)."""
    return PREFIX + secrets.token_urlsafe(24)


def status(record: Record, now: float) -> str:
    """The record's status as the waiting page sees it; ``expired`` once the QR is."""
    if record["status"] in ("waiting", "scanned") and now >= record["expires_at"]:
        return "expired"
    return t.cast(str, record["status"])


def read(state: WeChatWebState, scene: str) -> Record | None:
    with state.store_calls() as store:
        record = store.get(_KEY + scene)
    return record if isinstance(record, dict) else None


def save(state: WeChatWebState, scene: str, record: Record) -> None:
    """Store a new or changed record until its QR code's expiry and some grace."""
    left = record["expires_at"] - state.extension.clock()
    with state.store_calls() as store:
        store.set(_KEY + scene, record, timeout=max(1, int(left) + _GRACE))


def change(
    state: WeChatWebState, scene: str, how: t.Callable[[Record], t.Any]
) -> tuple[Record | None, t.Any]:
    """Apply ``how`` to the scene's record under its lock; the record and what ``how`` said.

    ``how`` changes the record in place; it is stored again only if it did.
    """
    with store_lock(state, "follow:" + scene):
        record = read(state, scene)
        if record is None:
            return None, None
        before = repr(record)
        said = how(record)
        if repr(record) != before:
            save(state, scene, record)
        return record, said
