"""What a way in is: its app's settings, who it takes, how a person starts it.

The ways in of today (the QR page, the in-WeChat authorization) both send
the browser to one of WeChat's authorize pages and come back to the
blueprint's callback with a code; :class:`Flow` does that part, and a way in
changes only what is its own.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from flask import Blueprint, redirect, request
from werkzeug.wrappers import Response

from .. import pending
from ..agents import in_wechat_browser
from ..relay import state_prefix

if t.TYPE_CHECKING:
    from ..state import WeChatWebState


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
    #: Where the app's console takes the callback's domain (``flask wechat urls``).
    console: str
    #: Taken only in WeChat's own browser (else in any browser).
    in_wechat_only: bool = False
    #: What else the console asks of that domain, if anything.
    console_note: str = ""
    #: The console refuses a domain with a port.
    console_refuses_port: bool = False

    def configured(self, config: t.Mapping[str, t.Any]) -> bool:
        return bool(config.get(self.appid_key))

    def takes(self, user_agent: str) -> bool:
        """Whether a login from this browser goes this way (when configured)."""
        return in_wechat_browser(user_agent) if self.in_wechat_only else True

    def register(self, blueprint: Blueprint) -> None:
        """Add this way in's own routes to the blueprint (none by default)."""

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
