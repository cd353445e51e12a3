"""WeChat's OAuth dialect on Authlib: the remote app and the call wrapper.

Authlib is customised only through its seams: a ``client_cls`` for the
remote app, and its session class (``oauth_session``). What no seam reaches
is overridden in the narrowest method, with the reason next to it.
"""

from __future__ import annotations

import threading
import time
import typing as t
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import FlaskOAuth2App

from . import answers
from .answers import (
    AUTH_PATH,
    JSCODE_PATH,
    REFRESH_PATH,
    STABLE_TOKEN_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
)
from .config import shown_host
from .errcodes import REJECTED_TOKEN_CODES
from .errors import (
    NO_TOKEN,
    TokenExpiredError,
    WeChatError,
    WeChatUnavailableError,
)
from .oauth_session import WeChatOAuth2Session, parse_body

__all__ = [
    "AUTH_PATH",
    "WeChatOAuth2Session",
    "parse_body",
    "JSCODE_PATH",
    "REFRESH_PATH",
    "STABLE_TOKEN_PATH",
    "TOKEN_PATH",
    "USERINFO_PATH",
]

_T = t.TypeVar("_T")


class WeChatRemoteApp(FlaskOAuth2App):  # type: ignore[misc]
    """The Authlib remote app registered as ``"wechat"``.

    Adds what Authlib leaves out: transport failures become
    ``WeChatUnavailableError`` with a scrubbed message (requests quotes the
    whole URL, and the token URL carries ``secret=``), and a user's token is
    renewed when it is expired or WeChat rejects it.
    """

    client_cls = WeChatOAuth2Session
    #: The one way a user's token is renewed: refreshed, stored when it is the
    #: current user's stored token, and returned. Set by the extension.
    renew_token: t.Callable[[t.Mapping[str, t.Any]], dict[str, t.Any]] | None = None

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle = threading.local()

    def _get_oauth_client(self, **metadata: t.Any) -> WeChatOAuth2Session:
        """This thread's idle session, reset; a new one when none is idle.

        Authlib builds a session (a ``requests.Session`` with two adapters
        and their pool managers) for every call and closes it after;
        ``WeChatOAuth2Session.close`` parks it here instead. A session is
        taken out of the slot while in use, so no two calls ever share one:
        a nested call finds the slot empty and gets a session of its own.
        One built before a ``fork`` or a new mount is dropped. A call with
        other ``metadata`` than the app's (Authlib's calls pass the app's)
        gets a session of its own, never parked.
        """
        if metadata != self.server_metadata:
            return t.cast(WeChatOAuth2Session, super()._get_oauth_client(**metadata))
        session: WeChatOAuth2Session | None = getattr(self._idle, "session", None)
        if session is not None:
            self._idle.session = None
            if session.pool is None or session.pool.serves(session):
                session.reset()
                return session
        session = super()._get_oauth_client(**metadata)
        session.idle_slot = self._idle
        return session

    def request(self, method: str, url: str, token: t.Any = None, **kwargs: t.Any) -> t.Any:
        """Call WeChat; with a user's token, renewed once if WeChat rejects it.

        ``token`` defaults to the current user's stored token. One past its
        ``expires_at`` is renewed first; one WeChat rejects although it has
        not expired (42001, 40014, 40001: WeChat revokes tokens early) is
        renewed and the call retried once.
        """
        if kwargs.get("withhold_token"):
            return self._call(method, url, None, kwargs)
        stored = token is None
        # Authlib's private lookup of the stored token (the fetch_token hook,
        # cached per request): the one its own request() makes, not done twice.
        used = self._get_requested_token() if stored else token
        if used is None:
            raise TokenExpiredError(NO_TOKEN)
        renew = self.renew_token
        if renew is not None and is_expired(used):
            used = renew(used)
        resp = self._call(method, url, used, kwargs)
        if renew is not None and _rejects_token(resp):
            used = renew(used)
            resp = self._call(method, url, used, kwargs)
        if stored:
            self.token = used  # this request's later calls use the fresh one
        return resp

    def _call(self, method: str, url: str, token: t.Any, kwargs: dict[str, t.Any]) -> t.Any:
        return call_wechat(
            lambda: super(WeChatRemoteApp, self).request(method, url, token=token, **kwargs),
            self.api_base_url,
        )

    def fetch_access_token(self, redirect_uri: str | None = None, **kwargs: t.Any) -> t.Any:
        return call_wechat(
            lambda: super(WeChatRemoteApp, self).fetch_access_token(redirect_uri, **kwargs),
            self.api_base_url,
        )

    def refresh(self, refresh_token: str, openid: str | None) -> dict[str, t.Any]:
        """A fresh token from WeChat's ``sns/oauth2/refresh_token`` (a GET, see the session).

        Authlib's remote apps have no public refresh; their sessions do. The
        session comes from ``_get_oauth_client``, the private seam through
        which Authlib's own ``fetch_access_token`` gets one with this app's
        settings (and which this class overrides to reuse idle sessions).
        """

        def do_refresh() -> dict[str, t.Any]:
            with self._get_oauth_client(**self.server_metadata) as client:
                client.refreshing_openid = openid
                url = self.server_metadata["refresh_token_url"]
                return dict(client.refresh_token(url, refresh_token=refresh_token))

        return call_wechat(do_refresh, self.api_base_url)

    def get_json(self, path: str, **params: t.Any) -> dict[str, t.Any]:
        """GET an API path with ``params`` (no stored token) and check the body."""
        resp = self.request("GET", path, params=params, withhold_token=True)
        return parse_body(resp, path)

    def post_json(
        self, path: str, body: t.Mapping[str, t.Any], **params: t.Any
    ) -> dict[str, t.Any]:
        """POST ``body`` as JSON to an API path, ``params`` in its query (no stored token)."""
        resp = self.request("POST", path, json=dict(body), params=params, withhold_token=True)
        return parse_body(resp, path)


def registration(
    *,
    appid: str,
    secret: str,
    authorize_url: str,
    api_base_url: str,
    scope: str,
    timeout: float,
) -> dict[str, t.Any]:
    """Authlib's registration of one of WeChat's apps, every parameter given.

    So Authlib fills none from the app's config (``<NAME>_CLIENT_ID`` and the
    like). The extension, and the Flask-Security and Flask-AppBuilder contribs,
    add their own client class and hooks.
    """
    api = api_base_url.rstrip("/")
    return {
        "client_id": appid,
        "client_secret": secret,
        "authorize_url": authorize_url,
        "authorize_params": None,
        "access_token_url": f"{api}/{TOKEN_PATH}",
        "access_token_params": None,
        "refresh_token_url": f"{api}/{REFRESH_PATH}",
        "refresh_token_params": None,
        "request_token_url": None,
        "request_token_params": None,
        "api_base_url": f"{api}/",
        "server_metadata_url": None,
        "client_kwargs": {"scope": scope, "default_timeout": (timeout, timeout)},
    }


def is_expired(token: t.Mapping[str, t.Any], leeway: int = 60) -> bool:
    """Whether ``token``'s access token expires within ``leeway`` seconds."""
    expires_at = token.get("expires_at")
    return isinstance(expires_at, (int, float)) and expires_at - leeway < time.time()


def _rejects_token(resp: requests.Response) -> bool:
    """Whether WeChat answered that the access token is expired or invalid."""
    if resp.status_code != 200 or b"errcode" not in resp.content:
        return False
    try:
        answers.parse("", resp.content)
    except WeChatError as error:
        return error.errcode in REJECTED_TOKEN_CODES
    return False


def call_wechat(fn: t.Callable[[], _T], base_url: str | None) -> _T:
    """Run ``fn``; turn every other failure into a scrubbed ``WeChatError``.

    The new error is raised outside the ``except`` block so it carries no
    ``__context__`` quoting the request URL.
    """
    try:
        return fn()
    except WeChatError:
        raise
    except requests.Timeout:
        reason = "did not answer within WECHAT_WEB_TIMEOUT seconds"
    except requests.exceptions.SSLError:
        reason = "failed the TLS handshake (certificate not trusted?)"
    except requests.ConnectionError:
        reason = "could not be reached or dropped the connection"
    except (requests.RequestException, AuthlibBaseError, OSError, ValueError) as exc:
        reason = f"failed ({type(exc).__name__})"
    parts = urlsplit(base_url or "")  # only now: most calls succeed
    # Never the netloc: it may carry user:password@. Nor a host that may be a
    # secret pasted into the wrong key: the key is named instead.
    host = parts.hostname if shown_host(parts.hostname) else "WECHAT_WEB_API_BASE_URL's host"
    host = f"{host}:{parts.port}" if parts.port else host
    raise WeChatUnavailableError(f"{host} {reason}. Try again later.")
