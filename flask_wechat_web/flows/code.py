"""Sign-in with a one-time code by message: works on any Official Account.

The person sends the account a keyword in WeChat (登录, ``login``); the
account's passive reply carries a one-time code; the person types the code
on the site's ``/code`` page, in the browser they want logged in.

Why this direction, not the other (the site shows a code, the person sends
it to the account): then whoever sends the code logs in the browser that
displayed it, so an attacker could show their code to a victim ("send this
to get a prize") and be logged in as the victim: login-jacking. Typing the
code into the browser proves the person at that browser holds that WeChat.

It works on any account: an unverified subscription account receives
messages and sends passive replies. Nothing here calls WeChat within the
push's 5 s; ``user/info``, for the unionid only, is asked when the browser
logs in, and an account without it (48001) logs people in by openid.
The codes and their bounds live in :mod:`flask_wechat_web.login_codes`.
"""

from __future__ import annotations

import hmac
import secrets
import typing as t
from dataclasses import dataclass

from flask import Blueprint, redirect, request, url_for
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from .. import _session, i18n, limits, login, login_codes
from ..errors import WeChatError, WeChatUnavailableError
from ..followers import SCOPE, log_in_follower
from ..pages import page, safe_next, site_name, site_root
from ..state import get_state, login_state
from .base import Flow

if t.TYPE_CHECKING:
    from ..push import MpPush
    from ..state import WeChatWebState

#: The texts that ask for a code (compared stripped and case-folded), and the
#: language of the reply to each.
KEYWORDS = {
    "登录": "zh_CN",
    "登陆": "zh_CN",
    "验证码": "zh_CN",
    "登入": "zh_CN",
    "login": "en",
    "code": "en",
}
#: The keyword a page in each language tells people to send.
_PAGE_KEYWORD = {"zh_CN": "登录", "zh_TW": "登入", "en": "login"}
#: Wrong codes one browser session may enter per :data:`BROWSER_WINDOW` seconds.
WRONG_PER_BROWSER, BROWSER_WINDOW = 5, 600


@dataclass(frozen=True)
class CodeFlow(Flow):
    """``/code``: the page a code is typed on; a code by reply to a keyword."""

    def configured(self, config: t.Mapping[str, t.Any]) -> bool:
        return bool(config.get("WECHAT_WEB_CODE_LOGIN"))

    def scope(self, config: t.Mapping[str, t.Any]) -> str:
        return SCOPE  # ids only: a follower has no profile

    def probe(self, state: WeChatWebState, code: str) -> None:
        """Nothing to ask: the code sign-in redeems no code of WeChat's."""

    def register(self, blueprint: Blueprint) -> None:
        blueprint.add_url_rule(
            "/code",
            "code_login",
            code_login,
            methods=["GET", "POST"],
            provide_automatic_options=False,
        )

    def start(self, state: WeChatWebState, next_url: str, *, forced: bool) -> Response:
        return redirect(url_for("wechat.code_login", next=next_url))

    def on_push(self, state: WeChatWebState, push: MpPush) -> str | None:
        """A keyword gets a new code (or how long to wait); any other message, nothing."""
        locale = KEYWORDS.get(push.content.strip().casefold()) if push.msg_type == "text" else None
        if locale is None:
            return None
        catalog = i18n.translations(locale)
        keyword = push.content.strip()
        try:
            code = login_codes.issue(state, push.openid)
        except limits.Wait as wait:
            return catalog.ngettext(
                "Too many login codes or wrong attempts. Wait %(minutes)s minute, then send "
                "%(keyword)s again.",
                "Too many login codes or wrong attempts. Wait %(minutes)s minutes, then send "
                "%(keyword)s again.",
                wait.minutes,
            ) % {"minutes": wait.minutes, "keyword": keyword}
        except WeChatUnavailableError:
            return catalog.gettext("The site is busy. Send %(keyword)s again in a moment.") % {
                "keyword": keyword
            }
        minutes = max(1, int(state.config["WECHAT_WEB_CODE_TTL"]) // 60)
        return catalog.ngettext(
            "Your login code for %(site)s: %(code)s. It expires in %(minutes)s minute. "
            "Type it on %(site)s's login page. Never give it to anyone.",
            "Your login code for %(site)s: %(code)s. It expires in %(minutes)s minutes. "
            "Type it on %(site)s's login page. Never give it to anyone.",
            minutes,
        ) % {"site": site_name(state.config), "code": login_codes.shown(code), "minutes": minutes}


CODE = CodeFlow(
    name="code",
    app_kind="Official Account",
    appid_key="WECHAT_WEB_MP_APPID",
    secret_key="WECHAT_WEB_MP_SECRET",
    scope_key="",
    authorize_path="",
    remote_name="wechat_mp",
    console="",  # no browser goes to WeChat: only the push (flask wechat urls names it)
    fits_wechat=True,
)


def code_login() -> Response:
    """``GET``: the page to type a code on. ``POST``: spend it and log this browser in."""
    state = login_state()
    if not CODE.configured(state.config):
        raise NotFound()
    next_url = safe_next(request.values.get("next")) or site_root()
    if request.method != "POST":
        return _page(next_url)
    try:
        return _posted(state, next_url)
    except WeChatError as error:  # the store down, or user/info failing
        return login.fail(error)


def _posted(state: WeChatWebState, next_url: str) -> Response:
    form_token, wrong = _browser()
    if not hmac.compare_digest(request.form.get("form_token", ""), form_token):
        return _page(next_url, 400, i18n.gettext("This page expired. Type the code again."))
    now = state.extension.clock()
    wrong = [at for at in wrong if now - at < BROWSER_WINDOW]
    address = request.remote_addr or ""
    wait = login_codes.address_wait(state, address)
    if wait is None and len(wrong) >= WRONG_PER_BROWSER:
        wait = limits.wait_for(wrong, now, BROWSER_WINDOW)
    if wait is not None:
        return _page(next_url, 429, _wait_message(wait))
    code = login_codes.typed(request.form.get("code", ""))
    try:
        if code is None:
            raise login_codes.WrongCode()
        openid = login_codes.spend(state, code, address)
    except login_codes.WrongCode:
        if code is not None:
            _session.data().set("code", [form_token, [*wrong, int(now)]])
        keyword = _PAGE_KEYWORD[i18n.current_locale()]
        message = i18n.gettext(
            "That code is wrong or has expired. Check it, or send %(keyword)s again for a new one."
        ) % {"keyword": keyword}
        return _page(next_url, 400, message)
    _session.data().set("code", None)
    log_in_follower(state, openid, CODE.name)
    return redirect(next_url)


def _wait_message(wait: limits.Wait) -> str:
    return i18n.translations(i18n.current_locale()).ngettext(
        "Too many wrong codes. Try again in %(minutes)s minute.",
        "Too many wrong codes. Try again in %(minutes)s minutes.",
        wait.minutes,
    ) % {"minutes": wait.minutes}


def _browser() -> tuple[str, list[int]]:
    """This browser's form token (made on first use) and times of its wrong codes."""
    stored = _session.data().get("code")
    if isinstance(stored, list) and len(stored) == 2 and isinstance(stored[0], str):
        times = stored[1] if isinstance(stored[1], list) else []
        return stored[0], [at for at in times if isinstance(at, int)]
    token = secrets.token_urlsafe(16)
    _session.data().set("code", [token, []])
    return token, []


def _page(next_url: str, status: int = 200, problem: str | None = None) -> Response:
    state = get_state()
    form_token, _ = _browser()
    sandbox = None
    if state.sandbox is not None:
        from ..sandbox import MESSAGE_URL

        sandbox = request.script_root + MESSAGE_URL
    return page(
        "wechat/code.html",
        status,
        next=next_url,
        form_token=form_token,
        problem=problem,
        keyword=_PAGE_KEYWORD[i18n.current_locale()],
        mp_name=state.config.get("WECHAT_WEB_MP_NAME"),
        sandbox_url=sandbox,
    )
