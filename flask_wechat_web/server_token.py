"""The Official Account's server access token: one ``stable_token`` fetch per expiry for all.

WeChat's server API (``qrcode/create``, ``user/info``) takes the account's
own access token, not a person's. It is held in ``WECHAT_WEB_STORE`` with
its expiry, so every worker and host reads the same one, and fetched by
whoever first finds it missing or about to expire, under a lock the others
wait on. ``stable_token`` in normal mode answers the same token to every
caller until 5 minutes before it expires, so the lock only saves calls:
a process that fetched beside another (a lock broken after a crash) gets
the same token, not one that replaces the other's.
"""

from __future__ import annotations

import time
import typing as t

from .answers import STABLE_TOKEN_PATH
from .errcodes import REJECTED_TOKEN_CODES
from .errors import ConfigurationError, WeChatAPIError, WeChatUnavailableError
from .locks import POLL, StoreLock

if t.TYPE_CHECKING:
    from .state import WeChatWebState

_T = t.TypeVar("_T")

#: Refetched this long before WeChat's expiry: well under the 300 s WeChat
#: guarantees, so a token fetched at its last moment still lasts 4 minutes.
MARGIN = 60


def server_token(state: WeChatWebState, rejected: str | None = None) -> str:
    """The Official Account's access token, fetched only when none is held or it expires.

    ``rejected`` is a token WeChat just refused (40001): it is not handed out
    again. Whoever comes first refetches it; everyone else then reads the new one.
    """
    appid, secret = _credentials(state)
    key = f"wechat_web:server_token:{appid}"
    token = _usable(_read(state, key), rejected)
    if token is not None:
        return token
    timeout = float(state.config["WECHAT_WEB_TIMEOUT"])
    # Two fetches at most (the rejected path), each a connect and a read.
    hold_for = 4 * timeout + 5
    # This process's threads take turns first, then its turn at the store's lock.
    with state.server_token_lock:
        # Long enough to break a lock its holder left when it died (see StoreLock).
        deadline = time.monotonic() + 2 * hold_for
        while True:
            token = _usable(_read(state, key), rejected)
            if token is not None:
                return token
            lock = StoreLock(state, f"server_token:{appid}", hold_for)
            if lock.acquire():
                try:
                    # Read again under the lock: its last holder may have just
                    # stored a token between our read above and our turn.
                    token = _usable(_read(state, key), rejected)
                    if token is not None:
                        return token
                    return _fetch_and_hold(state, key, appid, secret, rejected)
                finally:
                    lock.release()
            if time.monotonic() > deadline:
                raise WeChatUnavailableError(
                    "Another process has been fetching the Official Account's access "
                    f"token for over {2 * hold_for:.0f} seconds. Try again later."
                )
            time.sleep(POLL)


def with_server_token(state: WeChatWebState, call: t.Callable[[str], _T]) -> _T:
    """``call(token)`` for a server API call (``qrcode/create``, ``user/info``).

    When WeChat rejects the token (40001: replaced elsewhere), ``call`` runs
    once more with a fresh one, never more.
    """
    token = server_token(state)
    try:
        return call(token)
    except WeChatAPIError as error:
        if error.errcode not in REJECTED_TOKEN_CODES:
            raise
    return call(server_token(state, rejected=token))


def _credentials(state: WeChatWebState) -> tuple[str, str]:
    state.check_config()
    appid = state.config.get("WECHAT_WEB_MP_APPID")
    secret = state.config.get("WECHAT_WEB_MP_SECRET")
    if not appid or not secret:
        raise ConfigurationError(
            "The Official Account's access token needs WECHAT_WEB_MP_APPID and "
            "WECHAT_WEB_MP_SECRET (mp.weixin.qq.com > 设置与开发 > 基本配置)."
        )
    return str(appid), str(secret)


def _read(state: WeChatWebState, key: str) -> dict[str, t.Any] | None:
    with state.store_calls() as store:
        held = store.get(key)
    return held if isinstance(held, dict) else None


def _usable(held: dict[str, t.Any] | None, rejected: str | None) -> str | None:
    """The held token, unless it is the rejected one or within ``MARGIN`` of expiring."""
    if held is None or held.get("expires_at", 0) - MARGIN <= time.time():
        return None
    token = held.get("access_token")
    return token if isinstance(token, str) and token != rejected else None


def _fetch_and_hold(
    state: WeChatWebState, key: str, appid: str, secret: str, rejected: str | None
) -> str:
    """Fetch in normal mode; force a refresh only when WeChat answers the rejected token."""
    answer = _fetch(state, appid, secret, force=False)
    if rejected is not None and answer["access_token"] == rejected:
        answer = _fetch(state, appid, secret, force=True)
    expires_in = int(answer["expires_in"])
    held = {"access_token": answer["access_token"], "expires_at": time.time() + expires_in}
    with state.store_calls() as store:
        # Kept by the store until WeChat's expiry: Redis refuses a TTL of 0.
        store.set(key, held, timeout=max(1, expires_in))
    return t.cast(str, held["access_token"])


def _fetch(state: WeChatWebState, appid: str, secret: str, *, force: bool) -> dict[str, t.Any]:
    body = {
        "grant_type": "client_credential",
        "appid": appid,
        "secret": secret,
        "force_refresh": force,
    }
    return state.remote(state.flow_named("mp")).post_json(STABLE_TOKEN_PATH, body)
