"""Errors of Flask-WeChat-Web, and the one table that maps WeChat's errcodes.

Every message tells the site owner what to do and never carries the
AppSecret, a code or a token: messages are built from scrubbed parts only.
"""

from __future__ import annotations

import typing as t

from .i18n import lazy_gettext as _l


class WeChatError(Exception):
    """Base of every error this extension raises.

    ``errcode`` and ``errmsg`` are WeChat's when the error came from WeChat,
    else ``None``. ``status`` is the HTTP status a failed login answers with.
    ``user_title`` and ``user_message`` are the heading and the sentence the
    person logging in reads (flashed, and on the error page), in their language.
    """

    status: int = 400
    user_title: str = _l("WeChat login failed")
    user_message: str = _l("The WeChat login did not complete. Please try again.")
    default_message: str = "WeChat login failed."

    def __init__(
        self,
        message: str | None = None,
        *,
        errcode: int | None = None,
        errmsg: str | None = None,
    ) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.message = message or self.default_message
        super().__init__(self.message)


class ConfigurationError(WeChatError, ValueError):
    """A ``WECHAT_WEB_*`` setting is missing or malformed."""

    status = 500
    user_title = _l("WeChat login is unavailable")
    user_message = _l(
        "WeChat login is not set up correctly on this site yet. Please contact the site."
    )


class WeChatAPIError(WeChatError):
    """WeChat answered with an errcode this extension has no better class for."""

    status = 502
    user_title = _l("WeChat refused the login")
    user_message = _l("WeChat answered with an error. Please try again later.")
    default_message = "WeChat answered with an error."


class InvalidCodeError(WeChatAPIError):
    """The code is wrong, expired, already used or missing.

    Codes are single use and live 5 (Official Account) or 10 (QR) minutes.
    """

    status = 400
    user_title = _l("Login link expired")
    user_message = _l(
        "A login link works once, for a few minutes. Please log in with WeChat again."
    )
    default_message = (
        "WeChat rejected the authorization code: it was already used, has "
        "expired, or belongs to another app. Start the login again; if it keeps "
        "happening, check that nothing (a proxy, a browser prefetch, a retry) "
        "calls the callback URL twice."
    )


class InvalidCredentialError(WeChatAPIError):
    """WeChat does not accept the AppID or AppSecret."""

    user_title = _l("WeChat login is unavailable")
    user_message = _l(
        "WeChat login is not set up correctly on this site yet. Please contact the site."
    )
    default_message = (
        "WeChat rejected this app's credentials. Check WECHAT_WEB_APPID and "
        "WECHAT_WEB_SECRET (or the WECHAT_WEB_MP_* pair for the Official "
        "Account) against the WeChat console; `flask wechat check --online` "
        "tests the pair."
    )


class APIUnauthorizedError(WeChatAPIError):
    """WeChat refuses this app the API (errcode 48001): its permission or setup.

    Retrying never helps: the app lacks the permission in WeChat's console,
    or the AppID is of another kind of app.
    """

    user_title = _l("WeChat login is unavailable")
    user_message = _l(
        "WeChat login is not set up correctly on this site yet. Please contact the site."
    )
    default_message = (
        "WeChat refused this app the API: the app lacks the permission, and "
        "retrying will not help. Website app: "
        "open.weixin.qq.com > 管理中心 > 网站应用 > (the app) > 接口信息 must show "
        "微信登录 as 已获得 (the app passed WeChat's review). Official Account: "
        "mp.weixin.qq.com > 设置与开发 > 接口权限 > 网页服务 > 网页授权 must be 已获得, "
        "which only a verified Service Account (认证服务号) has. Check that "
        "WECHAT_WEB_APPID and WECHAT_WEB_MP_APPID are those apps' AppIDs (a mini "
        "program's gets 48001 on the token call)."
    )


class TokenExpiredError(WeChatAPIError):
    """The access or refresh token is expired or invalid."""

    status = 401
    user_title = _l("Login expired")
    user_message = _l("Your WeChat login has expired. Please log in again.")
    default_message = (
        "The WeChat token has expired or is no longer valid and could not be "
        "refreshed: the user must log in with WeChat again."
    )


#: The message of a call made with no token (``wechat.token`` is ``None``).
NO_TOKEN = (
    "There is no WeChat token to call WeChat with: the current user did not "
    "log in with WeChat, or logged out, or the token was dropped. Send the "
    "user to log in with WeChat (wechat.login_url())."
)


class AccessDeniedError(WeChatError):
    """The user declined the login (WeChat came back with a state but no code)."""

    status = 403
    user_title = _l("Login canceled")
    user_message = _l(
        "You declined the WeChat authorization, so this site received nothing from your account."
    )
    default_message = (
        "The user declined the WeChat login (the callback carried a state but "
        "no code). Nothing to fix; offer another way to log in."
    )


class StateMismatchError(WeChatError):
    """The callback's ``state`` is missing, unknown, expired or already used.

    ``reason`` names the likely cause: ``"missing"``, ``"malformed"``, ``"no_cookie"``,
    ``"unknown"``, ``"expired"``, ``"used"`` or ``"evicted"``.
    """

    user_title = _l("Invalid login link")
    user_message = _l("This login link is not valid. Please log in again.")
    default_message = "The login's state does not match this browser's session."

    #: What the person logging in reads, per reason: a title and one sentence.
    _USER_TEXTS: t.ClassVar[dict[str, tuple[str, str]]] = {
        "missing": (
            _l("Incomplete login link"),
            _l("This login link is missing a part. Please log in again from this site."),
        ),
        "malformed": (
            _l("Invalid login link"),
            _l("This login link was not made by this site. Please log in again from this site."),
        ),
        "no_cookie": (
            _l("Login could not be checked"),
            _l(
                "Your browser did not send this site's cookie back. Allow cookies for "
                "this site, then log in again."
            ),
        ),
        "unknown": (
            _l("Login not recognized"),
            _l("This login was not started in this browser. Please log in again here."),
        ),
        "expired": (
            _l("Login timed out"),
            _l("The login took too long and has expired. Please log in again."),
        ),
        "used": (
            _l("Login link already used"),
            _l("This login link has already been used. Please log in again."),
        ),
        "evicted": (
            _l("Too many logins at once"),
            _l("Logins were started in too many tabs at once. Please log in again from one tab."),
        ),
    }

    _MESSAGES: t.ClassVar[dict[str, str]] = {
        "missing": (
            "The callback came without a state, so it cannot be tied to a login "
            "this browser started. Start logins from the login page."
        ),
        "malformed": (
            "The callback's state is malformed (empty, repeated, too long or not "
            "alphanumeric): this site never issues such a state, so the link was "
            "forged or mangled."
        ),
        "no_cookie": (
            "The callback came without this site's session cookie, so the state "
            "could not be checked. The login probably started on another host "
            "(www vs. bare domain, http vs. https, a different port) than the "
            "callback URL, or the session cookie is SameSite=Strict or too "
            "large. Use one host for the site and WECHAT_WEB_CALLBACK_URL, and "
            "SESSION_COOKIE_SAMESITE='Lax'."
        ),
        "unknown": (
            "This browser's session has no pending login with this state: the "
            "callback was forged, replayed from another browser, or the session "
            "was reset (SECRET_KEY changed, user logged out meanwhile)."
        ),
        "expired": (
            "The login's state expired before WeChat came back "
            "(WECHAT_WEB_STATE_TTL). The user took too long; start again."
        ),
        "used": (
            "This login's state was already used: the callback was opened a "
            "second time (reload, back button, a shared link). Start again."
        ),
        "evicted": (
            "Too many logins were started in this browser at once (many tabs), "
            "and this one was dropped to keep the session cookie small. Start "
            "again from one tab."
        ),
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        if reason in self._USER_TEXTS:
            self.user_title, self.user_message = self._USER_TEXTS[reason]
        super().__init__(self._MESSAGES.get(reason, self.default_message))


class SnapshotUserError(WeChatError):
    """WeChat's read-only snapshot page logged in a virtual user.

    Its openid and unionid are not the user's real ones, so the login must not
    create or find an account.
    """

    status = 403
    user_title = _l("Preview mode")
    user_message = _l(
        'WeChat opened this page in preview mode. Tap "Use full service" at the '
        "bottom, then log in again."
    )
    default_message = (
        "WeChat returned a snapshot-page virtual user (is_snapshotuser=1); the "
        "login was stopped. Avoid forcing snsapi_userinfo logins the moment a "
        "page opens; let the user choose to log in."
    )


class LoginRefusedError(WeChatError):
    """The site's user handler returned ``None``, or the user is inactive."""

    status = 403
    user_title = _l("Login not allowed")
    user_message = _l("This WeChat account cannot be used to log in to this site.")
    default_message = (
        "The site's user handler refused this WeChat identity (it returned "
        "None, or Flask-Login refused an inactive user)."
    )


class WeChatUnavailableError(WeChatError):
    """WeChat could not be reached or answered garbage.

    Timeouts, connection errors, HTTP 5xx, a body that is not a JSON object,
    and errcode -1 ("system busy") all end here.
    """

    status = 502
    user_title = _l("WeChat is not responding")
    user_message = _l("This site could not reach WeChat just now. Please try again in a moment.")
    default_message = "WeChat is unavailable."


class MalformedAnswerError(WeChatUnavailableError):
    """WeChat (or something posing as it) answered with an unexpected shape.

    ``endpoint`` is the API path, ``field`` the field at fault (``"(body)"``
    when the body as a whole is: not UTF-8, not JSON, too large or too deep).
    The message never quotes the value, which might be a token.
    """

    def __init__(self, endpoint: str, field: str, reason: str) -> None:
        self.endpoint = endpoint
        self.field = field
        where = "its body" if field == "(body)" else f"its field {field!r}"
        super().__init__(
            f"WeChat's answer to {endpoint} is malformed: {where} {reason}. Nothing "
            "was used from it. Try again later; if it persists, check what answers "
            "at WECHAT_WEB_API_BASE_URL (a proxy or captive portal?)."
        )


class UserBlockedError(WeChatAPIError):
    """WeChat's risk control blocked this user's mini program login (errcode 40226)."""

    status = 403
    user_title = _l("Login blocked by WeChat")
    user_message = _l("WeChat's security check stopped this login. Please try again later.")
    default_message = "WeChat's risk control blocked this user (a high-risk account)."


class RateLimitError(WeChatAPIError):
    """WeChat's per-user minute quota is spent (errcode 45011): retry after a minute."""

    status = 429
    user_title = _l("Too many logins")
    user_message = _l("Too many login attempts. Please wait a minute and try again.")
    default_message = "WeChat's minute quota for this user is spent (100 calls a minute)."


class TooManyRequestsError(WeChatError):
    """One client address asked the site for too many of something lately (QR codes to follow).

    WeChat's daily quota of QR codes is the site's: a bot must not spend it.
    """

    status = 429
    user_title = _l("Too many QR codes")
    user_message = _l(
        "Your network asked for many QR codes just now. Please wait a few minutes and try again."
    )
    default_message = "This client address made too many QR codes to follow lately."


class InvalidRequestError(WeChatError):
    """A login request of an app that is not what the route takes (method, body, type)."""

    user_message = _l("This login request is not valid. Please update the app and try again.")
    default_message = (
        "The app's login request is malformed: POST a JSON object "
        '{"code": ...} with Content-Type: application/json.'
    )

    def __init__(self, message: str | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class StorageUnavailableError(WeChatError):
    """The site's database went away while the callback was saving the login.

    Raised by :class:`SQLAlchemyStorage` (and around the user handler when that
    storage is used) for a lost or refused database connection. The whole login
    was rolled back: nothing half-written, and the next try can succeed.
    """

    status = 503
    user_title = _l("Please try again in a moment")
    user_message = _l("This site could not save your login just now. Please try again in a moment.")
    default_message = (
        "The database did not answer while the WeChat login was being saved; the "
        "transaction was rolled back. Check the database server and its connection "
        "settings (SQLALCHEMY_ENGINE_OPTIONS={'pool_pre_ping': True} drops "
        "connections the server closed)."
    )
