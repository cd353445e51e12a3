"""The ``WECHAT_WEB_*`` settings: their defaults and what a valid value is.

``problems`` is shared by ``init_app`` (which refuses to start) and
``flask wechat check`` (which lists every problem). Messages name the key and
never repeat a value, since the value might be the AppSecret pasted into the
wrong key.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit

from .i18n import LOCALES
from .pushcrypto import AES_KEY_FORMAT
from .relay import problems as relay_problems

DEFAULTS: dict[str, t.Any] = {
    "WECHAT_WEB_SCOPE": "snsapi_login",
    "WECHAT_WEB_MP_APPID": None,
    "WECHAT_WEB_MP_SECRET": None,
    "WECHAT_WEB_MP_SCOPE": "snsapi_userinfo",
    "WECHAT_WEB_LANG": "zh_CN",
    "WECHAT_WEB_URL_PREFIX": "/wechat",
    "WECHAT_WEB_REMEMBER": False,
    "WECHAT_WEB_ERROR_VIEW": None,
    "WECHAT_WEB_TIMEOUT": 5,
    "WECHAT_WEB_OPEN_BASE_URL": "https://open.weixin.qq.com",
    "WECHAT_WEB_API_BASE_URL": "https://api.weixin.qq.com",
    "WECHAT_WEB_SANDBOX": False,
    "WECHAT_WEB_STATE_TTL": 600,
    "WECHAT_WEB_CALLBACK_URL": None,
    "WECHAT_WEB_RELAY_SITES": None,
    "WECHAT_WEB_RELAY_ID": None,
    "WECHAT_WEB_WXLOGIN_JS_URL": ("https://res.wx.qq.com/connect/zh_CN/htmledition/js/wxLogin.js"),
    "WECHAT_WEB_UI_LOCALE": None,
    # No defaults for the apps' pairs (read with .get): FakeWeChat.configure()
    # fills in only the keys an app lacks.
    "WECHAT_WEB_API_TOKEN_TTL": 604800,
    "WECHAT_WEB_STORE": None,
    "WECHAT_WEB_MP_TOKEN": None,
    "WECHAT_WEB_MP_AES_KEY": None,
    "WECHAT_WEB_MP_ALLOW_PLAINTEXT": False,
    # The Official Account's sign-ins (scan to follow, a code by message).
    "WECHAT_WEB_SITE_NAME": None,
    "WECHAT_WEB_FOLLOW_LOGIN": False,
    "WECHAT_WEB_FOLLOW_CONFIRM": True,
    "WECHAT_WEB_FOLLOW_TTL": 300,
    "WECHAT_WEB_CODE_LOGIN": False,
    "WECHAT_WEB_CODE_TTL": 300,
    "WECHAT_WEB_MP_NAME": None,
    "WECHAT_WEB_MP_WEB_AUTH": True,
}

#: The optional apps, each a pair of keys: (AppID key, AppSecret key, what the app is).
OPTIONAL_APPS = (
    ("WECHAT_WEB_MP_APPID", "WECHAT_WEB_MP_SECRET", "the Official Account"),
    ("WECHAT_WEB_APP_APPID", "WECHAT_WEB_APP_SECRET", "the mobile app"),
    ("WECHAT_WEB_MINIPROGRAM_APPID", "WECHAT_WEB_MINIPROGRAM_SECRET", "the mini program"),
)

#: The keys whose presence means the site has set its config (else ``init_app`` waits).
CREDENTIAL_KEYS = ("WECHAT_WEB_APPID", "WECHAT_WEB_SECRET") + tuple(
    key for appid_key, secret_key, _ in OPTIONAL_APPS for key in (appid_key, secret_key)
)

LANGUAGES = ("zh_CN", "zh_TW", "en")
QR_SCOPES = ("snsapi_login",)
MP_SCOPES = ("snsapi_userinfo", "snsapi_base")

#: A host fit to show in a message: a dotted name (what WeChat's consoles
#: take), an IP address or localhost. A host of another shape may be a
#: secret pasted into the wrong key (an AppSecret is a valid DNS label).
_SHOWN_HOST = re.compile(r"localhost|[0-9a-f:]*:[0-9a-f:.]*|(?:[a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}")

_APPID = re.compile(r"wx[0-9a-fA-F]{16}")
_SECRET = re.compile(r"[0-9A-Za-z]{32}")
#: The push Token as WeChat's console takes it: 3 to 32 letters and digits.
_MP_TOKEN = re.compile(r"[0-9A-Za-z]{3,32}")


def _appid_problem(key: str, value: t.Any) -> str | None:
    if not value:
        return f"{key} is not set: the AppID from the WeChat console ('wx' + 16 hex digits)."
    if not isinstance(value, str) or not _APPID.fullmatch(value):
        return f"{key} is malformed: an AppID is 'wx' followed by 16 hex digits."
    return None


def _secret_problem(key: str, value: t.Any) -> str | None:
    if not value:
        return f"{key} is not set: the AppSecret from the WeChat console (32 characters)."
    if not isinstance(value, str) or not _SECRET.fullmatch(value):
        return f"{key} is malformed: an AppSecret is 32 letters and digits."
    return None


def url_problem(key: str, value: t.Any, *, sandbox: bool = False) -> str | None:
    """Why ``value`` is no absolute http(s) URL for ``key`` (naming the key only), or None."""
    if not isinstance(value, str) or not value:
        return f"{key} must be a URL."
    if sandbox and value.startswith("/"):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        return f"{key} must be an absolute http(s) URL."
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{key} must be an absolute http(s) URL."
    return None


def shown_host(host: str | None) -> bool:
    """Whether a configured URL's ``host`` (lowercase, as ``urlsplit`` gives it) may be shown."""
    return bool(host) and bool(_SHOWN_HOST.fullmatch(host or ""))


def _positive(value: t.Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def relay_only(config: t.Mapping[str, t.Any]) -> bool:
    """A site that relays callbacks (``WECHAT_WEB_RELAY_SITES``) and logs nobody in."""
    return config.get("WECHAT_WEB_RELAY_SITES") is not None and not (
        config.get("WECHAT_WEB_APPID") or config.get("WECHAT_WEB_SECRET")
    )


def account_logins(config: t.Mapping[str, t.Any]) -> bool:
    """Whether the site signs people in through its Official Account's push (follow, code)."""
    return bool(config.get("WECHAT_WEB_FOLLOW_LOGIN") or config.get("WECHAT_WEB_CODE_LOGIN"))


def problems(config: t.Mapping[str, t.Any], *, debug: bool = False) -> list[str]:
    """Every problem with the ``WECHAT_WEB_*`` settings, one line each."""
    sandbox = bool(config.get("WECHAT_WEB_SANDBOX"))
    found = [
        _appid_problem("WECHAT_WEB_APPID", config.get("WECHAT_WEB_APPID")),
        _secret_problem("WECHAT_WEB_SECRET", config.get("WECHAT_WEB_SECRET")),
    ]
    if relay_only(config) or (
        account_logins(config)
        and not (config.get("WECHAT_WEB_APPID") or config.get("WECHAT_WEB_SECRET"))
    ):
        # A site that only relays, or signs people in through its Official
        # Account alone, needs no website app.
        found = []
    appids = {"WECHAT_WEB_APPID": config.get("WECHAT_WEB_APPID")}
    for appid_key, secret_key, kind in OPTIONAL_APPS:
        appid, secret = config.get(appid_key), config.get(secret_key)
        if not (appid or secret):
            continue
        found += [_appid_problem(appid_key, appid), _secret_problem(secret_key, secret)]
        same = [key for key, other in appids.items() if appid and other == appid]
        if same:
            found.append(
                f"{appid_key} equals {same[0]}: {kind} has an AppID of its own "
                "(each app's console shows it)."
            )
        appids[appid_key] = appid
    if config.get("WECHAT_WEB_SCOPE") not in QR_SCOPES:
        found.append("WECHAT_WEB_SCOPE must be 'snsapi_login' (the only QR login scope).")
    if config.get("WECHAT_WEB_MP_SCOPE") not in MP_SCOPES:
        found.append("WECHAT_WEB_MP_SCOPE must be 'snsapi_userinfo' or 'snsapi_base'.")
    if config.get("WECHAT_WEB_LANG") not in LANGUAGES:
        found.append("WECHAT_WEB_LANG must be one of 'zh_CN', 'zh_TW', 'en'.")
    if config.get("WECHAT_WEB_UI_LOCALE") not in (None, *LOCALES):
        found.append("WECHAT_WEB_UI_LOCALE must be one of 'zh_CN', 'zh_TW', 'en', or unset.")
    prefix = config.get("WECHAT_WEB_URL_PREFIX")
    if not isinstance(prefix, str) or not prefix.startswith("/") or "//" in prefix:
        found.append("WECHAT_WEB_URL_PREFIX must be a path starting with '/', e.g. '/wechat'.")
    for key in (
        "WECHAT_WEB_OPEN_BASE_URL",
        "WECHAT_WEB_API_BASE_URL",
        "WECHAT_WEB_WXLOGIN_JS_URL",
    ):
        found.append(url_problem(key, config.get(key), sandbox=sandbox))
    if config.get("WECHAT_WEB_CALLBACK_URL") is not None:
        found.append(url_problem("WECHAT_WEB_CALLBACK_URL", config["WECHAT_WEB_CALLBACK_URL"]))
    if not _positive(config.get("WECHAT_WEB_TIMEOUT")):
        found.append("WECHAT_WEB_TIMEOUT must be a number of seconds above 0.")
    if not _positive(config.get("WECHAT_WEB_STATE_TTL")):
        found.append("WECHAT_WEB_STATE_TTL must be a number of seconds above 0.")
    ttl = config.get("WECHAT_WEB_API_TOKEN_TTL", DEFAULTS["WECHAT_WEB_API_TOKEN_TTL"])
    if not (_positive(ttl) and isinstance(ttl, int)):
        found.append("WECHAT_WEB_API_TOKEN_TTL must be a whole number of seconds above 0.")
    store = config.get("WECHAT_WEB_STORE")
    if store is not None and not all(
        callable(getattr(store, name, None)) for name in ("get", "set", "add", "delete")
    ):
        found.append(
            "WECHAT_WEB_STORE must be a cachelib cache (cachelib.FileSystemCache, "
            "cachelib.RedisCache), or unset for a FileSystemCache in the instance folder."
        )
    if sandbox and not debug:
        found.append(
            "WECHAT_WEB_SANDBOX is on outside debug and testing: anyone could log "
            "in as anyone. The sandbox only runs with app.debug or app.testing."
        )
    if str(config.get("SESSION_COOKIE_SAMESITE") or "").lower() == "strict":
        found.append(
            "SESSION_COOKIE_SAMESITE is 'Strict': the browser drops the session "
            "cookie on WeChat's redirect back and every login fails. Use 'Lax'."
        )
    found += relay_problems(config)
    found += _push_problems(config, debug=debug)
    found += _account_login_problems(config)
    return [problem for problem in found if problem]


def _push_problems(config: t.Mapping[str, t.Any], *, debug: bool) -> list[str | None]:
    """The Official Account push's Token, EncodingAESKey, and the plaintext rule."""
    token, aes_key = config.get("WECHAT_WEB_MP_TOKEN"), config.get("WECHAT_WEB_MP_AES_KEY")
    if not token:
        return ["WECHAT_WEB_MP_AES_KEY is set without WECHAT_WEB_MP_TOKEN."] if aes_key else []
    found: list[str | None] = []
    if not isinstance(token, str) or not _MP_TOKEN.fullmatch(token):
        found.append("WECHAT_WEB_MP_TOKEN is malformed: the Token is 3 to 32 letters and digits.")
    if not config.get("WECHAT_WEB_MP_APPID"):
        found.append(
            "WECHAT_WEB_MP_TOKEN is set without WECHAT_WEB_MP_APPID: the push is the "
            "Official Account's."
        )
    if aes_key:
        if not isinstance(aes_key, str) or not AES_KEY_FORMAT.fullmatch(aes_key):
            found.append(
                "WECHAT_WEB_MP_AES_KEY is malformed: the EncodingAESKey is 43 letters and digits."
            )
    elif not (debug or config.get("WECHAT_WEB_MP_ALLOW_PLAINTEXT")):
        found.append(
            "WECHAT_WEB_MP_TOKEN is set without WECHAT_WEB_MP_AES_KEY: in plaintext mode "
            "the push's body is not signed, so anyone holding one signed URL can forge "
            "events. Choose the safe mode (安全模式) and set WECHAT_WEB_MP_AES_KEY to its "
            "EncodingAESKey, or set WECHAT_WEB_MP_ALLOW_PLAINTEXT = True."
        )
    return found


def _account_login_problems(config: t.Mapping[str, t.Any]) -> list[str | None]:
    """Scan to follow and the code sign-in: what each needs of the Official Account."""
    found: list[str | None] = []
    for key in ("WECHAT_WEB_FOLLOW_TTL", "WECHAT_WEB_CODE_TTL"):
        value = config.get(key, DEFAULTS[key])
        if not (_positive(value) and isinstance(value, int) and value <= 3600):
            found.append(f"{key} must be a whole number of seconds from 1 to 3600.")
    for key in ("WECHAT_WEB_SITE_NAME", "WECHAT_WEB_MP_NAME"):
        value = config.get(key)
        if value not in (None, "") and not (
            isinstance(value, str) and 0 < len(value.strip()) <= 64
        ):
            found.append(f"{key} must be a name of 1 to 64 characters, or unset.")
    for key, what in (
        ("WECHAT_WEB_FOLLOW_LOGIN", "scan to follow"),
        ("WECHAT_WEB_CODE_LOGIN", "the code sign-in"),
    ):
        if not config.get(key):
            continue
        if not config.get("WECHAT_WEB_MP_TOKEN"):
            found.append(
                f"{key} is on without WECHAT_WEB_MP_TOKEN: {what} learns who scanned or "
                "wrote through the Official Account's push (服务器配置)."
            )
        if not config.get("WECHAT_WEB_MP_APPID"):
            found.append(f"{key} is on without WECHAT_WEB_MP_APPID (the Official Account's).")
    if config.get("WECHAT_WEB_FOLLOW_LOGIN") and not config.get("WECHAT_WEB_MP_SECRET"):
        found.append(
            "WECHAT_WEB_FOLLOW_LOGIN is on without WECHAT_WEB_MP_SECRET: the QR code comes "
            "from WeChat's qrcode/create, which takes the account's server access token."
        )
    return found
