"""The fake WeChat's server access tokens: ``cgi-bin/token`` and ``cgi-bin/stable_token``.

:class:`ServerTokens` is a base of :class:`~flask_wechat_web.testing.FakeWeChat`
and keeps WeChat's rules (protocol §1, §11): ``cgi-bin/token`` issues a new
token on every call and the previous one dies 300 s later; ``stable_token``
answers the same token until 300 s before it expires, with what is left of
its life, and a ``force_refresh`` kills it at once (20 a day, 30 s apart).
The two never invalidate each other's tokens. Over the daily quota it
answers 45009; from an IP outside :attr:`~ServerTokens.allowed_ips`, 40164.
Answers are HTTP 200 with ``application/json; encoding=utf-8``, as WeChat's.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from .api import Api, Body, error
from .model import FakeApp

TOKEN_TTL = 7200
#: An old token lives this long after a new one is issued; stable_token renews this early.
OVERLAP = 300
FORCE_PER_DAY = 20
FORCE_APART = 30
DAY = 86400

#: The endpoints this module answers, as the fake's URL map names them.
SERVER_TOKEN_ENDPOINTS = frozenset({"token", "stable_token"})


@dataclass
class _Tokens:
    """One app's tokens of one endpoint: the current one and when each dies."""

    current: str | None = None
    expires_at: float = 0.0
    forced: list[float] = field(default_factory=list)


class ServerTokens(Api):
    """The Official Account's server access tokens, as WeChat issues and checks them."""

    #: IP addresses WeChat takes token calls from; ``None``: no allow-list.
    allowed_ips: set[str] | None
    #: Calls a day per app: ``cgi-bin/token`` 2000, ``stable_token`` 500,000.
    token_quota: dict[str, int]

    def _reset_server_tokens(self) -> None:
        """Called by ``reset`` with the lock held."""
        self.allowed_ips = None
        self.token_quota = {"token": 2000, "stable_token": 500_000}
        self._issued: dict[tuple[str, str], _Tokens] = {}
        #: Every token issued: its appid and the moment it dies.
        self._server_tokens: dict[str, tuple[str, float]] = {}
        self._token_calls: dict[tuple[str, str, int], int] = {}

    def server_token_valid(self, access_token: str) -> str | None:
        """The appid whose live server token ``access_token`` is, else ``None`` (40001)."""
        with self._lock:
            return self._server_token_appid(access_token)

    def replace_server_token(self, app: FakeApp | None = None) -> None:
        """Force a new stable token for ``app`` as another holder of its secret would."""
        with self._lock:
            appid = (app or self.mp_app).appid
            tokens = self._issued.setdefault(("stable_token", appid), _Tokens())
            if tokens.current is not None:
                self._server_tokens.pop(tokens.current, None)
            tokens.current = None

    def _server_token_appid(self, access_token: str) -> str | None:
        """With the lock held: what :meth:`server_token_valid` answers."""
        appid, dies = self._server_tokens.get(access_token, ("", 0.0))
        return appid if appid and self._now() < dies else None

    def _server_token_answer(self, endpoint: str, request: Request) -> Response:
        with self._lock:
            body = self._server_token_body(endpoint, request)
        text = json.dumps(body, separators=(",", ":"))
        return Response(text, content_type="application/json; encoding=utf-8")

    def _server_token_body(self, endpoint: str, request: Request) -> Body:
        if endpoint == "stable_token":
            if request.method != "POST":
                return error(41002)
            try:
                params = json.loads(request.get_data())
            except ValueError:
                return error(41002)  # a form or query: WeChat reads JSON only (§1.2)
            if not isinstance(params, dict):
                return error(41002)
        else:
            params = dict(request.args)
        if not all(isinstance(params.get(k, ""), str) for k in ("appid", "secret", "grant_type")):
            return error(40002)
        app = self._signed_app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        if params.get("grant_type") != "client_credential":
            return error(40002)
        ip = request.remote_addr or "127.0.0.1"
        if self.allowed_ips is not None and ip not in self.allowed_ips:
            rid = secrets.token_hex(4)
            return {
                "errcode": 40164,
                "errmsg": f"invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist rid: {rid}",
            }
        day = int(self._now() // DAY)
        used = self._token_calls.get((endpoint, app.appid, day), 0)
        if used >= self.token_quota[endpoint]:
            return error(45009)
        self._token_calls[(endpoint, app.appid, day)] = used + 1
        tokens = self._issued.setdefault((endpoint, app.appid), _Tokens())
        if endpoint == "token":
            return self._new_token(app, tokens, old_lives=OVERLAP)
        if params.get("force_refresh") is True:
            return self._forced(app, tokens)
        if tokens.current is None or self._now() >= tokens.expires_at - OVERLAP:
            return self._new_token(app, tokens, old_lives=OVERLAP)
        return self._current(tokens)

    def _forced(self, app: FakeApp, tokens: _Tokens) -> Body:
        now = self._now()
        tokens.forced = [at for at in tokens.forced if at > now - DAY]
        if tokens.forced and now - tokens.forced[-1] < FORCE_APART and tokens.current:
            return self._current(tokens)  # within 30 s: no refresh
        if len(tokens.forced) >= FORCE_PER_DAY:
            return error(45009)
        tokens.forced.append(now)
        return self._new_token(app, tokens, old_lives=0)

    def _new_token(self, app: FakeApp, tokens: _Tokens, *, old_lives: float) -> Body:
        now = self._now()
        if tokens.current is not None:
            _, dies = self._server_tokens[tokens.current]
            self._server_tokens[tokens.current] = (app.appid, min(dies, now + old_lives))
        tokens.current = secrets.token_urlsafe(102)
        tokens.expires_at = now + TOKEN_TTL
        self._server_tokens[tokens.current] = (app.appid, tokens.expires_at)
        return self._current(tokens)

    def _current(self, tokens: _Tokens) -> Body:
        return {
            "access_token": tokens.current,
            "expires_in": round(tokens.expires_at - self._now()),
        }
