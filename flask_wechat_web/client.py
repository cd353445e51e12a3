"""WeChat's OAuth dialect on Authlib: the session, the remote app, the call wrapper.

Authlib is customised only through its seams: a ``client_cls`` for the
remote app, an OAuth2 session subclass, a client-auth method and compliance
hooks. What no hook reaches (refresh is always a POST in Authlib) is
overridden in the narrowest method, with the reason next to it.
"""

from __future__ import annotations

import copy
import threading
import time
import typing as t
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import FlaskOAuth2App
from authlib.integrations.requests_client import OAuth2Session

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
from .errors import (
    NO_TOKEN,
    MalformedAnswerError,
    TokenExpiredError,
    WeChatError,
    WeChatUnavailableError,
)
from .transport import ConnectionPool

__all__ = [
    "AUTH_PATH",
    "JSCODE_PATH",
    "REFRESH_PATH",
    "STABLE_TOKEN_PATH",
    "TOKEN_PATH",
    "USERINFO_PATH",
]

_T = t.TypeVar("_T")


def parse_body(resp: requests.Response, endpoint: str) -> dict[str, t.Any]:
    """WeChat's JSON object from ``resp``, checked for ``endpoint``'s shape.

    Bodies come as ``text/plain`` with no charset: the bytes are decoded as
    UTF-8 whatever the headers say (see :func:`.answers.parse`). An errcode
    other than 0 raises its ``WeChatError``.
    """
    if resp.status_code >= 300:
        raise WeChatUnavailableError(
            f"WeChat answered HTTP {resp.status_code} to {endpoint}. "
            "It is usually brief: try again later.",
        )
    return answers.parse(endpoint, resp.content)


def _wechat_query_auth(
    client: t.Any, method: str, uri: str, headers: t.Any, body: t.Any
) -> tuple[str, t.Any, t.Any]:
    """Client auth the WeChat way: ``appid`` and ``secret`` in the GET query.

    Rebuilds the query in the documented order (appid, secret, code,
    grant_type) and drops what WeChat does not take (``redirect_uri``).
    """
    parts = urlsplit(uri)
    given = dict(parse_qsl(parts.query, keep_blank_values=True))
    params = [
        ("appid", client.client_id),
        ("secret", client.client_secret),
        ("code", given.get("code", "")),
        ("grant_type", given.get("grant_type", "authorization_code")),
    ]
    return urlunsplit(parts._replace(query=urlencode(params))), headers, body


class WeChatOAuth2Session(OAuth2Session):  # type: ignore[misc]
    """An Authlib OAuth2 session that speaks WeChat's dialect.

    ``appid``/``secret`` instead of ``client_id``/``client_secret``, the token
    and refresh calls as GET, ``access_token`` and ``openid`` in the query of
    API calls, errcode bodies raised as ``WeChatError``. Every response is
    decoded as UTF-8, so ``resp.json()`` and ``resp.text`` keep Chinese
    nicknames intact. Its transport is the app's shared ``ConnectionPool``.
    """

    def __init__(self, *args: t.Any, pool: ConnectionPool | None = None, **kwargs: t.Any):
        kwargs.setdefault("token_endpoint_auth_method", "wechat_query")
        kwargs.setdefault("token_placement", "uri")
        url = kwargs.get("token_endpoint") or ""
        super().__init__(*args, **kwargs)
        self.pool = pool
        #: Where ``close`` parks this session for its thread's next call.
        self.idle_slot: threading.local | None = None
        #: The openid of the token being refreshed, set by the caller: a
        #: refresh answer for another account is refused before it is stored.
        self.refreshing_openid: str | None = None
        self._fresh: tuple[t.Any, t.Any, dict[str, t.Any]] = (
            self.redirect_uri,
            self.state,
            dict(self.metadata),
        )
        if pool is not None:
            pool.mount_into(self, url)
        self.hooks["response"].append(_decode_as_utf8)
        self.register_client_auth_method(("wechat_query", _wechat_query_auth))
        self.register_compliance_hook("protected_request", self._add_openid)

    def reset(self) -> None:
        """Forget everything a call left: token, redirect_uri, state, cookies, guessed grant."""
        self.token: t.Any = None
        self.refreshing_openid = None
        self.redirect_uri, self.state, metadata = self._fresh
        self.metadata = dict(metadata)
        self.cookies.clear()

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' own, given the query already encoded and no empty headers.

        requests 2.34 checks a mapping of ``params`` or ``headers`` against
        typing protocols where it merges and encodes them, empty ones too:
        twelve checks per login, 6% of its instructions on Python 3.11. An
        encoded query and no headers (``fetch_token`` passes none) take
        requests' fast paths to the same request. The session's own
        ``params`` are merged first, as requests does, without the ones set
        to ``None``.
        """
        params, headers = request.params, request.headers
        if isinstance(params, t.Mapping) or not headers:
            request = copy.copy(request)
            if isinstance(params, t.Mapping):
                merged = {**(self.params or {}), **params}
                request.params = urlencode(
                    [(key, value) for key, value in merged.items() if value is not None],
                    doseq=True,
                )
            if not headers:
                request.headers = None
        return t.cast(requests.PreparedRequest, super().prepare_request(request))

    def merge_environment_settings(
        self, url: t.Any, proxies: t.Any, stream: t.Any, verify: t.Any, cert: t.Any
    ) -> dict[str, t.Any]:
        """This session's own settings, when the call sets none of its own.

        ``mount_into`` read the environment once into the session (and
        turned ``trust_env`` off), so requests' merge of each setting with
        the session's, run on every call, has nothing left to merge.
        """
        if self.trust_env or proxies or (stream, verify, cert) != (None, None, None):
            return t.cast(
                dict[str, t.Any],
                super().merge_environment_settings(url, proxies, stream, verify, cert),
            )
        return {
            "proxies": {k: v for k, v in self.proxies.items() if v is not None},
            "stream": self.stream,
            "verify": self.verify,
            "cert": self.cert,
        }

    def close(self) -> None:
        """Park in the thread's idle slot, if free, instead of closing.

        Authlib closes its session at the end of every call. The adapters
        of a pooled session are the pool's, so there is nothing to close.
        """
        slot = self.idle_slot
        if slot is not None and getattr(slot, "session", None) is None:
            slot.session = self
        elif self.pool is None:
            super().close()

    def create_authorization_url(
        self,
        url: str,
        state: str | None = None,
        code_verifier: str | None = None,
        **kwargs: t.Any,
    ) -> tuple[str, str | None]:
        """WeChat's authorize URL: its parameter order, then ``#wechat_redirect``.

        The Official Account page matches the link against a strict pattern,
        and ``redirect_uri`` must be percent-encoded whole.
        """
        params = [
            ("appid", self.client_id),
            ("redirect_uri", kwargs.get("redirect_uri") or self.redirect_uri),
            ("response_type", "code"),
            ("scope", kwargs.get("scope") or self.scope),
        ]
        if state:
            params.append(("state", state))
        if kwargs.get("lang"):
            params.append(("lang", kwargs["lang"]))
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params)
        return f"{url}?{query}#wechat_redirect", state

    def fetch_token(self, url: str | None = None, **kwargs: t.Any) -> t.Any:
        """A GET, as WeChat documents, without Authlib's form headers.

        Everything is in the query: there is no body for a ``Content-Type``,
        and WeChat answers JSON whatever ``Accept`` says.
        """
        kwargs["method"] = "GET"
        kwargs.setdefault("headers", {})
        return super().fetch_token(url, **kwargs)

    def parse_response_token(self, resp: requests.Response) -> t.Any:
        """The code exchange's answer, checked by its shape table, is the token.

        Authlib's own would parse the JSON a second time (``parse_body``
        refuses an ``error`` key and a status of 300 or more, as it does).
        """
        self.token = parse_body(resp, TOKEN_PATH)  # an OAuth2Token, with expires_at
        return self.token

    def _refresh_token(
        self,
        url: str,
        refresh_token: str | None = None,
        body: str = "",
        headers: t.Any = None,
        auth: t.Any = None,
        **kwargs: t.Any,
    ) -> t.Any:
        """Refresh with a GET and no secret, as WeChat documents.

        Authlib's ``_refresh_token`` always POSTs with client auth, and no
        compliance hook can change the method.
        """
        url = self.metadata.get("refresh_token_url") or url
        params = {
            "appid": self.client_id,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        resp = self.request("GET", url, params=params, withhold_token=True, **kwargs)
        for hook in self.compliance_hook["refresh_token_response"]:
            resp = hook(resp)
        self.token = parse_body(resp, REFRESH_PATH)  # an OAuth2Token, with expires_at
        if self.refreshing_openid and self.token["openid"] != self.refreshing_openid:
            raise MalformedAnswerError(REFRESH_PATH, "openid", "is not the token's openid")
        if callable(self.update_token):
            self.update_token(self.token, refresh_token=refresh_token)
        return self.token

    def _add_openid(self, uri: str, headers: t.Any, body: t.Any) -> tuple[str, t.Any, t.Any]:
        openid = (self.token or {}).get("openid")
        if openid and "openid=" not in urlsplit(uri).query:
            joiner = "&" if "?" in uri else "?"
            uri = f"{uri}{joiner}{urlencode({'openid': openid})}"
        return uri, headers, body


def _decode_as_utf8(resp: requests.Response, *args: t.Any, **kwargs: t.Any) -> None:
    resp.encoding = "utf-8"


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

    def post_json(self, path: str, body: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """POST ``body`` as JSON to an API path (no stored token) and check the answer."""
        resp = self.request("POST", path, json=dict(body), withhold_token=True)
        return parse_body(resp, path)


def is_expired(token: t.Mapping[str, t.Any], leeway: int = 60) -> bool:
    """Whether ``token``'s access token expires within ``leeway`` seconds."""
    expires_at = token.get("expires_at")
    return isinstance(expires_at, (int, float)) and expires_at - leeway < time.time()


_REJECTED_TOKEN_CODES = frozenset({42001, 40014, 40001})


def _rejects_token(resp: requests.Response) -> bool:
    """Whether WeChat answered that the access token is expired or invalid."""
    if resp.status_code != 200 or b"errcode" not in resp.content:
        return False
    try:
        answers.parse("", resp.content)
    except WeChatError as error:
        return error.errcode in _REJECTED_TOKEN_CODES
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
