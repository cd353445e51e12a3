"""WeChat's OAuth dialect in Authlib's requests session, and every answer's body checked.

Authlib is customised through its seams: a client-auth method that puts
``appid`` and ``secret`` in the query, compliance hooks, and the session
subclass. What no hook reaches (refresh is always a POST in Authlib) is
overridden in the narrowest method, with the reason next to it.
"""

from __future__ import annotations

import copy
import threading
import typing as t
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

from . import answers
from .answers import REFRESH_PATH, TOKEN_PATH
from .errors import MalformedAnswerError, WeChatUnavailableError
from .transport import ConnectionPool


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
