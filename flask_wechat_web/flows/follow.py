"""Scan to follow: the Official Account's temporary QR code, for sites without a website app.

``/follow`` shows this browser a QR code of its own (a scene, kept in its
session). Scanning it makes WeChat push ``subscribe`` (a new follower) or
``SCAN`` (a follower) with the scene; :meth:`FollowFlow.on_push` records
who scanned and replies with a link to ``/follow/confirm/<scene>``, where
the person, known by the account's ``snsapi_base`` web authorization,
confirms or cancels. Scanning is no consent (a follower sees no prompt),
hence that step, unless ``WECHAT_WEB_FOLLOW_CONFIRM = False``. The waiting
page asks ``/follow/status``, which knows the browser by its session
cookie alone (the ticket is no secret), and logs it in on the first ask
after the confirmation. It asks with ``?wait=`` (a long poll): the answer
is held while nothing changes, so a page costs one request per
:data:`MAX_WAIT` seconds yet learns of the confirmation within
:data:`RECHECK` seconds.
"""

from __future__ import annotations

import hmac
import io
import math
import secrets
import time
import typing as t
from dataclasses import dataclass

import segno
from flask import Blueprint, jsonify, redirect, request, session, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from .. import _session, followers, i18n, limits, login, scenes
from ..answers import QRCODE_CREATE_PATH
from ..errors import APIUnauthorizedError, ConfigurationError, TooManyRequestsError, WeChatError
from ..pages import page, safe_next, site_name, site_root
from ..server_token import with_server_token
from ..state import login_state
from .base import MP_VERIFY_NOTE, MP_WEB_AUTH_CONSOLE, Flow

if t.TYPE_CHECKING:
    from ..push import MpPush
    from ..state import WeChatWebState

#: QR codes one client address may have made per window of seconds.
QR_PER_ADDRESS, QR_WINDOW = 60, 600
#: The confirming phone's own part of its session: the authorization's state,
#: then who it is and its form token. A plain key: it is never in a computer's.
CONFIRM_KEY = "_wechat_web_follow"
_ACCOUNT_TYPE = (
    "WeChat refused to make a QR code for the Official Account (48001, api unauthorized): "
    "WECHAT_WEB_FOLLOW_LOGIN needs a verified service account (认证服务号) or the test "
    "account (接口测试号); a subscription account, or an unverified one, may use "
    "WECHAT_WEB_CODE_LOGIN instead."
)
#: The longest ``/follow/status?wait=`` holds an unchanged status, in seconds.
MAX_WAIT = 10.0
#: How often a held status request reads the scene again, in seconds.
RECHECK = 0.15
#: The page asks no sooner than this after its previous ask began. A held
#: request answers a change that leaves the page waiting (``scanned``) only
#: once it is this old, so that the page may ask again at once and a
#: confirmation right after a scan is not left waiting for the gap.
MIN_GAP = 2.0
#: The statuses a request is held on; any other is final.
_HELD = ("waiting", "scanned")


@dataclass(frozen=True)
class FollowFlow(Flow):
    """``/follow``, its status, its confirmation, and the scans the push brings."""

    def configured(self, config: t.Mapping[str, t.Any]) -> bool:
        return bool(config.get("WECHAT_WEB_FOLLOW_LOGIN")) and super().configured(config)

    def register(self, blueprint: Blueprint) -> None:
        blueprint.add_url_rule("/follow", "follow", follow, provide_automatic_options=False)
        blueprint.add_url_rule(
            "/follow/status", "follow_status", follow_status, provide_automatic_options=False
        )
        blueprint.add_url_rule(
            "/follow/confirm/<scene>",
            "follow_confirm",
            follow_confirm,
            methods=["GET", "POST"],
            provide_automatic_options=False,
        )

    def start(self, state: WeChatWebState, next_url: str, *, forced: bool) -> Response:
        return redirect(url_for("wechat.follow", next=next_url))

    def on_push(self, state: WeChatWebState, push: MpPush) -> str | None:
        scene = push.scene
        if not scene or not scenes.SCENE_FORMAT.fullmatch(scene):
            return None  # another QR code of the account's, or a plain follow
        now = state.extension.clock()
        confirm = bool(state.config["WECHAT_WEB_FOLLOW_CONFIRM"])

        def scanned(record: scenes.Record) -> str | None:
            if not hmac.compare_digest(record["ticket"], push.fields.get("Ticket", "")):
                return None
            current = scenes.status(record, now)
            if current == "expired":
                return "expired"
            if current not in ("waiting", "scanned"):
                return "used"
            if push.openid not in record["scanners"]:
                if len(record["scanners"]) >= scenes.MAX_SCANNERS:
                    return "used"
                record["scanners"].append(push.openid)
            if not confirm:
                record.update(status="confirmed", openid=push.openid)
                return "confirmed"
            record["status"] = "scanned"
            return "scanned"

        record, outcome = scenes.change(state, scene, scanned)
        if record is None or outcome is None:
            return None  # unknown (or long gone), or not our ticket
        return _reply(state, scene, outcome)


def _reply(state: WeChatWebState, scene: str, outcome: str) -> str:
    """The text the person reads in WeChat, in the site's own language."""
    gettext = i18n.translations(_site_locale(state)).gettext
    site = site_name(state.config)
    if outcome == "expired":
        return gettext("This QR code has expired. Get a new one on the computer.")
    if outcome == "used":
        return gettext("This QR code has been used. Get a new one on the computer.")
    if outcome == "confirmed":
        return gettext("You are logging in on %(site)s on the computer.") % {"site": site}
    link = url_for("wechat.follow_confirm", scene=scene, _external=True)
    text = gettext(
        "A computer is asking to log in to %(site)s as you. If that is you, confirm here: %(link)s"
    )
    return text % {"site": site, "link": link}


def _site_locale(state: WeChatWebState) -> str:
    return str(state.config.get("WECHAT_WEB_UI_LOCALE") or i18n.DEFAULT_LOCALE)


FOLLOW = FollowFlow(
    name="follow",
    app_kind="Official Account",
    appid_key="WECHAT_WEB_MP_APPID",
    secret_key="WECHAT_WEB_MP_SECRET",
    scope_key="WECHAT_WEB_MP_SCOPE",
    authorize_path="connect/oauth2/authorize",
    remote_name="wechat_mp",
    # The confirmation page learns who opens it through the web authorization.
    console=MP_WEB_AUTH_CONSOLE,
    console_note=MP_VERIFY_NOTE,
    console_refuses_port=True,
)


def _qr_svg(url: str) -> Markup:
    """The QR code of WeChat's ``url``, drawn here: no image from WeChat, no script."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=6, border=2, xmldecl=False)
    return Markup(out.getvalue().decode())


def _create(state: WeChatWebState, next_url: str) -> tuple[str, scenes.Record]:
    """A new scene and its QR code from WeChat, stored and remembered by this browser.

    At most :data:`QR_PER_ADDRESS` per client address per :data:`QR_WINDOW`:
    WeChat's daily quota of QR codes (100,000; 10,000 for the test account)
    is the site's, and a page view must not spend it for a bot.
    """
    address = limits.key("follow_qr", request.remote_addr or "")
    if limits.over(state, address, QR_PER_ADDRESS, QR_WINDOW) is not None:
        raise TooManyRequestsError()
    ttl = int(state.config["WECHAT_WEB_FOLLOW_TTL"])
    scene = scenes.new_scene()
    body = {
        "expire_seconds": ttl,
        "action_name": "QR_STR_SCENE",
        "action_info": {"scene": {"scene_str": scene}},
    }
    remote = state.remote(state.flow_named("mp"))
    try:
        answer = with_server_token(
            state, lambda token: remote.post_json(QRCODE_CREATE_PATH, body, access_token=token)
        )
    except APIUnauthorizedError:
        raise ConfigurationError(_ACCOUNT_TYPE) from None
    now = state.extension.clock()
    record: scenes.Record = {
        "ticket": answer["ticket"],
        "url": answer["url"],
        "status": "waiting",
        "scanners": [],
        "openid": None,
        "created_at": now,
        "expires_at": now + ttl,
        "next": next_url,
        "ip": request.remote_addr or "",
    }
    scenes.save(state, scene, record)
    limits.record(state, address, QR_WINDOW)
    _session.data().set("follow", scene)
    return scene, record


def follow() -> Response:
    """The page with this browser's QR code; reused on reload while it is still good."""
    try:
        state = login_state()
        if not FOLLOW.configured(state.config):
            raise ConfigurationError(
                "/follow was asked for, but WECHAT_WEB_FOLLOW_LOGIN is off "
                "(or WECHAT_WEB_MP_APPID is unset)."
            )
        next_url = safe_next(request.args.get("next")) or site_root()
        now = state.extension.clock()
        scene = _session.data().get("follow")
        record = scenes.read(state, scene) if isinstance(scene, str) else None
        if record is not None and scenes.status(record, now) in ("waiting", "scanned"):
            if record["next"] != next_url:
                scenes.change(state, t.cast(str, scene), lambda r: r.update(next=next_url))
        elif record is None or record["status"] == "spent" or request.args.get("new"):
            # Spent: this browser logged in with it already; a new login, a new QR code.
            scene, record = _create(state, next_url)
        current = scenes.status(record, now)
        if current == "confirmed":  # without script, a reload logs in
            current, next_url = _poll(state)
            if current == "done":
                return redirect(next_url)
    except WeChatError as error:
        return login.fail(error)
    return page(
        "wechat/follow.html",
        qr=_qr_svg(record["url"]) if current in ("waiting", "scanned") else None,
        status=current,
        next=next_url,
        site=site_name(state.config),
        seconds=max(0, int(record["expires_at"] - now)),
    )


def follow_status() -> Response:
    """JSON for the waiting page: this session's scene, and the login once confirmed.

    ``?wait=N`` holds the answer up to N seconds (at most :data:`MAX_WAIT`)
    while the status stays what the page shows (``known``, else the status
    found first), reading the store again every :data:`RECHECK` seconds.
    A held request holds a server thread: size the threads for the pages
    that wait at once.
    """
    began = time.monotonic()
    try:
        state = login_state()
        status, next_url = _poll(state)
        known = request.args.get("known")
        known = known if known in _HELD else status
        deadline = began + _wait_seconds(request.args.get("wait"))
        while status in _HELD and (now := time.monotonic()) < deadline:
            if status != known and now - began >= MIN_GAP:
                break
            time.sleep(min(RECHECK, deadline - now))
            status, next_url = _poll(state)
    except WeChatError as error:
        return login.fail_json(error)
    return jsonify(status=status, next=next_url)


def _wait_seconds(value: str | None) -> float:
    """``?wait=``'s seconds, within 0 and :data:`MAX_WAIT`; 0 for anything else."""
    try:
        seconds = float(value or 0)
    except ValueError:
        return 0.0
    return min(seconds, MAX_WAIT) if math.isfinite(seconds) and seconds > 0 else 0.0


def _poll(state: WeChatWebState) -> tuple[str, str]:
    """This browser's scene's status and ``next``; logged in on the first poll once confirmed.

    Known by the session alone: the scene and the ticket are no secret.
    A login that fails (its database down) leaves the scene confirmed.
    """
    data = _session.data()
    scene = data.get("follow")
    record = scenes.read(state, scene) if isinstance(scene, str) else None
    if record is None:
        return "expired", site_root()
    current = scenes.status(record, state.extension.clock())
    if current == "spent":  # by this browser, the only one that holds the scene
        return ("done" if current_user.is_authenticated else "used"), record["next"]
    if current != "confirmed":
        return current, record["next"]

    def spend(r: scenes.Record) -> bool:
        if r["status"] != "confirmed":
            return False
        r["status"] = "spent"
        return True

    def unspend(r: scenes.Record) -> None:
        if r["status"] == "spent":
            r["status"] = "confirmed"

    record, spent = scenes.change(state, t.cast(str, scene), spend)
    if not spent or record is None:
        return "used", site_root()
    try:
        followers.log_in_follower(state, record["openid"], FOLLOW.name)
    except WeChatError:  # the database or WeChat down: the next ask tries again
        scenes.change(state, t.cast(str, scene), unspend)
        raise
    return "done", record["next"]


def follow_confirm(scene: str) -> Response:
    """Inside WeChat, from the reply: who opens it (``snsapi_base``), then Log in or Cancel."""
    try:
        state = login_state()
        if not FOLLOW.configured(state.config):
            raise ConfigurationError("WECHAT_WEB_FOLLOW_LOGIN is off.")
        record = scenes.read(state, scene) if scenes.SCENE_FORMAT.fullmatch(scene) else None
        if record is None:
            return _confirm_page("unknown", 404)
        mine = session.get(CONFIRM_KEY)
        mine = mine if isinstance(mine, dict) and mine.get("scene") == scene else {}
        if "code" in request.args or "state" in request.args:
            return _authorized(state, scene, mine)
        openid = mine.get("openid")
        if not isinstance(openid, str):
            return _authorize(state, scene)
        if openid not in record["scanners"]:
            return _confirm_page("stranger", 403)
        if request.method == "POST":
            return _decide(state, scene, mine)
        current = scenes.status(record, state.extension.clock())
        if current != "scanned":
            return _confirm_page("used" if current != "expired" else current, 410)
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record["created_at"]))
        return _confirm_page(
            "ask", record=record, when=when, token=mine["csrf"], site=site_name(state.config)
        )
    except WeChatError as error:
        return login.fail(error)


def _authorize(state: WeChatWebState, scene: str) -> Response:
    """Off to the account's web authorization, silent with ``snsapi_base``."""
    value = secrets.token_urlsafe(24).replace("-", "").replace("_", "")
    session[CONFIRM_KEY] = {"scene": scene, "state": value}
    remote = state.remote(state.flow_named("mp"))
    back = url_for("wechat.follow_confirm", scene=scene, _external=True)
    url = remote.create_authorization_url(back, state=value, scope="snsapi_base")["url"]
    return redirect(f"{request.script_root}{url}" if url.startswith("/") else url)


def _authorized(state: WeChatWebState, scene: str, mine: dict[str, t.Any]) -> Response:
    """WeChat's way back: the state checked, the code redeemed for the opener's openid."""
    given, code = request.args.get("state", ""), request.args.get("code", "")
    expected = mine.get("state")
    if not (isinstance(expected, str) and hmac.compare_digest(expected, given) and code):
        return _confirm_page("again", 400)
    token = state.remote(state.flow_named("mp")).fetch_access_token(code=code)
    session[CONFIRM_KEY] = {
        "scene": scene,
        "openid": token["openid"],
        "csrf": secrets.token_urlsafe(24),
    }
    return redirect(url_for("wechat.follow_confirm", scene=scene))


def _decide(state: WeChatWebState, scene: str, mine: dict[str, t.Any]) -> Response:
    """The form's Log in or Cancel, its token checked; the first confirmation wins."""
    given = request.form.get("csrf_token", "")
    if not hmac.compare_digest(str(mine.get("csrf", "")), given):
        return _confirm_page("again", 400)
    accept = "confirm" in request.form
    now = state.extension.clock()

    def decide(record: scenes.Record) -> str:
        current = scenes.status(record, now)
        if current != "scanned" or mine["openid"] not in record["scanners"]:
            return "used" if current != "expired" else current
        if accept:
            record.update(status="confirmed", openid=mine["openid"])
            return "done"
        record["status"] = "used"
        return "canceled"

    _, outcome = scenes.change(state, scene, decide)
    session.pop(CONFIRM_KEY, None)
    if outcome is None:
        return _confirm_page("unknown", 404)
    return _confirm_page(outcome, 200 if outcome in ("done", "canceled") else 410)


def _confirm_page(step: str, code: int = 200, **context: t.Any) -> Response:
    return page("wechat/follow_confirm.html", code, step=step, **context)
