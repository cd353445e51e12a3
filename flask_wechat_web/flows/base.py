"""What a way in is: its app's settings, who it takes, how a person starts it.

The browsers' ways in (the QR page, the in-WeChat authorization) both send
the browser to one of WeChat's authorize pages and come back to the
blueprint's callback with a code; :class:`Flow` does that part, and a way in
changes only what is its own. The apps' ways in (the mobile app, the mini
program) post their code as JSON: :class:`AppFlow`.
"""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass

from flask import Blueprint, jsonify, redirect, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from .. import bearer, login, pending
from ..agents import in_wechat_browser
from ..errors import InvalidCodeError, InvalidRequestError, WeChatError
from ..pages import exempt_from_csrf
from ..relay import state_prefix
from ..state import login_state

if t.TYPE_CHECKING:
    from ..identity import WeChatIdentity
    from ..push import MpPush
    from ..state import WeChatWebState


#: Where the Official Account's console takes the domain of its web authorization.
MP_WEB_AUTH_CONSOLE = (
    "mp.weixin.qq.com > 设置与开发 > 公众号设置 > 功能设置 > 网页授权域名"
    " (web authorization domain)"
)
#: What else it asks of that domain.
MP_VERIFY_NOTE = "(WeChat asks you to serve its MP_verify_*.txt file at that domain's root.)"


@dataclass(frozen=True)
class Flow:
    """A way in through one of WeChat's authorize pages, with the app it logs in through."""

    #: What pending logins and ``?mode=`` call it.
    name: str
    #: The kind of app, as the site owner's messages name it.
    app_kind: str
    appid_key: str
    secret_key: str
    scope_key: str
    #: WeChat's authorize page, under ``WECHAT_WEB_OPEN_BASE_URL``.
    authorize_path: str
    #: Its remote app's name in the Authlib registry.
    remote_name: str
    #: Where the app's console takes the callback's domain (``flask wechat urls``);
    #: empty for a way in that sends no browser to WeChat.
    console: str
    #: Taken only in WeChat's own browser (else in any browser).
    in_wechat_only: bool = False
    #: What else the console asks of that domain, if anything.
    console_note: str = ""
    #: The console refuses a domain with a port.
    console_refuses_port: bool = False
    #: A browser logs in this way (else an app posts to the way's own route).
    browser: bool = True
    #: Made for WeChat's own browser too, where a QR code on the screen cannot be
    #: scanned: there it goes before the ways in that merely take any browser.
    fits_wechat: bool = False

    def configured(self, config: t.Mapping[str, t.Any]) -> bool:
        return bool(config.get(self.appid_key))

    def scope(self, config: t.Mapping[str, t.Any]) -> str:
        """The scope its logins ask for."""
        return t.cast(str, config[self.scope_key])

    def probe(self, state: WeChatWebState, code: str) -> None:
        """Redeem ``code`` and drop the answer: ``flask wechat check --online`` asks with it."""
        state.remote(self).fetch_access_token(code=code)

    def takes(self, user_agent: str) -> bool:
        """Whether a login from this browser goes this way (when configured)."""
        if not self.browser:
            return False
        return in_wechat_browser(user_agent) if self.in_wechat_only else True

    def register(self, blueprint: Blueprint) -> None:
        """Add this way in's own routes to the blueprint (none by default)."""

    def on_push(self, state: WeChatWebState, push: MpPush) -> str | None:
        """Act on the Official Account's push; the text to reply to its sender, if any.

        Called once per push (retries and replays are dropped before), within
        WeChat's 5 s: no call to WeChat here, only the store.
        """
        return None

    def start(self, state: WeChatWebState, next_url: str, *, forced: bool) -> Response:
        """Answer ``/login``: off to WeChat. ``forced``: ``?mode=`` asked for this way."""
        return redirect(self.authorize_url(state, next_url))

    def new_state(self, state: WeChatWebState, next_url: str, *, in_frame: bool = False) -> str:
        """Remember a new pending login through this way in; its state."""
        state.check_logins()
        ttl = state.config["WECHAT_WEB_STATE_TTL"]
        now = state.extension.clock()
        added = pending.add(self.name, next_url, now, ttl, in_frame=in_frame, prefix=state_prefix())
        return added.state

    def authorize_url(self, state: WeChatWebState, next_url: str) -> str:
        """Start a login: a new pending state, and WeChat's authorize URL for it."""
        value = self.new_state(state, next_url)
        remote = state.remote(self)
        url = t.cast(
            str,
            remote.create_authorization_url(
                state.callback_url(), state=value, lang=self.page_lang()
            )["url"],
        )
        # The sandbox's authorize pages live on this very site.
        return f"{request.script_root}{url}" if url.startswith("/") else url

    def page_lang(self) -> str | None:
        """The ``lang`` of WeChat's authorize page, if it takes one."""
        return None


#: What an app's login request may weigh: ``{"code": ...}`` is a few dozen bytes.
_MAX_BODY = 4096
_CODE_FORMAT = re.compile(r"[!-~]{1,512}")
#: The methods answered with a JSON 405 rather than Flask's page.
_REFUSED_METHODS = ["GET", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True)
class AppFlow(Flow):
    """A way in for an app that is no browser: it posts WeChat's code as JSON.

    ``POST {route}`` with ``{"code": ...}``, answered JSON always: the user
    and a bearer token (``@wechat.api_token`` may add to it), or the failure.
    JSON only, so a form on another site cannot post it. No ``state`` round
    trip: the app's own channel to the site is the protection.
    """

    browser: bool = False
    #: Its route under the blueprint; its endpoint is ``wechat.<name>_login``.
    route: str = ""
    #: Its scope, fixed by WeChat (the app has no setting for it).
    fixed_scope: str = ""

    def scope(self, config: t.Mapping[str, t.Any]) -> str:
        return self.fixed_scope

    def register(self, blueprint: Blueprint) -> None:
        endpoint = f"{self.name}_login"
        blueprint.add_url_rule(
            self.route, endpoint, self.login_view, methods=["POST", *_REFUSED_METHODS]
        )
        # Flask-WTF's CSRFProtect must pass it: JSON only, no form can post it.
        blueprint.record(
            lambda setup: exempt_from_csrf(setup.app, f"{setup.name}.{endpoint}", self.login_view)
        )

    def redeem(self, state: WeChatWebState, code: str) -> tuple[dict[str, t.Any], WeChatIdentity]:
        """The token to store and the identity for ``code``."""
        raise NotImplementedError

    def login_view(self) -> Response:
        """Redeem the posted code, log the user in, answer who and a bearer token."""
        try:
            state = login_state()
            if request.method != "POST":
                response = login.fail_json(InvalidRequestError(status=405))
                response.headers["Allow"] = "POST"
                return response
            if not self.configured(state.config):
                raise InvalidRequestError(
                    f"{self.route} was called, but no {self.app_kind} is configured "
                    f"({self.appid_key} / {self.secret_key}).",
                    status=404,
                )
            token, identity = self.redeem(state, _posted_code())
            user = login.finish(state, token, identity)
            return jsonify(bearer.login_answer(state, user, identity))
        except WeChatError as error:
            return login.fail_json(error)


def _posted_code() -> str:
    """The ``code`` of the JSON object posted, else the error that says what is wrong."""
    if not request.is_json:
        raise InvalidRequestError(status=415)
    try:
        body = request.stream.read(_MAX_BODY + 1)
    except RequestEntityTooLarge:  # over the site's own MAX_CONTENT_LENGTH
        raise InvalidRequestError(status=413) from None
    if len(body) > _MAX_BODY:
        raise InvalidRequestError(status=413)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        raise InvalidRequestError()
    if not _CODE_FORMAT.fullmatch(data["code"]):
        raise InvalidCodeError("The posted code is malformed; it did not come from WeChat.")
    return t.cast(str, data["code"])
