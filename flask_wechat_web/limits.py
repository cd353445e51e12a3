"""Sliding-window counters in ``WECHAT_WEB_STORE``: how often someone did something lately.

The code login counts codes issued and wrong codes (per account, per client
address); scan to follow counts the QR codes a client address had made
(WeChat's daily quota of them is the site's). Keys are hashes: the store
never names an openid or an address. Each count is changed under the
store's lock, so every worker and host sees one count.
"""

from __future__ import annotations

import hashlib
import math
import typing as t

from .locks import store_lock

if t.TYPE_CHECKING:
    from .state import WeChatWebState


class Wait(Exception):
    """Too many lately: ``seconds`` until the next is taken."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds

    @property
    def minutes(self) -> int:
        return max(1, -(-self.seconds // 60))


def key(kind: str, value: str) -> str:
    """The store key of ``value``'s counter of ``kind``, naming neither."""
    return f"wechat_web:{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _recent(stored: t.Any, now: float, window: int) -> list[float]:
    times = stored if isinstance(stored, list) else []
    return [float(at) for at in times if isinstance(at, (int, float)) and now - at < window]


def wait_for(times: t.Sequence[float], now: float, window: int) -> Wait:
    """How long until the oldest of ``times`` leaves the ``window``."""
    return Wait(math.ceil(min(times) + window - now))


def count(state: WeChatWebState, key: str, window: int) -> list[float]:
    """The times recorded at ``key`` within the last ``window`` seconds."""
    with state.store_calls() as store:
        return _recent(store.get(key), state.extension.clock(), window)


def record(state: WeChatWebState, key: str, window: int) -> list[float]:
    """Add now to the times at ``key`` (those within ``window`` kept); the times."""
    now = state.extension.clock()
    with store_lock(state, key), state.store_calls() as store:
        times = [*_recent(store.get(key), now, window), now]
        store.set(key, times, timeout=window + 60)
    return times


def over(state: WeChatWebState, key: str, most: int, window: int) -> Wait | None:
    """A :class:`Wait` once ``key`` counts ``most`` within ``window``, else ``None``."""
    times = count(state, key, window)
    if len(times) < most:
        return None
    return wait_for(times, state.extension.clock(), window)
