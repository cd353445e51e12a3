"""The ``WeChatWeb`` extension object and its per-app state."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import typing as t
from urllib.parse import quote

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app, has_request_context, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from werkzeug.local import LocalProxy

from . import _session, i18n, pending, scopes
from ._agents import in_wechat_browser, on_phone
from .cli import wechat_cli
from .client import (
    AUTH_PATH,
    REFRESH_PATH,
    TOKEN_PATH,
    USERINFO_PATH,
    WeChatRemoteApp,
    call_wechat,
    is_expired,
    parse_body,
)
from .config import DEFAULTS, LANGUAGES, problems, relay_only
from .errors import (
    NO_TOKEN,
    ConfigurationError,
    MalformedAnswerError,
    TokenExpiredError,
    WeChatAPIError,
)
from .identity import WeChatIdentity, WeChatUser
from .relay import state_prefix
from .storage import SessionStorage, TokenStorage, compact_token, same_account
from .transport import ConnectionPool, install_log_scrubber
from .views import (
    configuration_error_page,
    create_blueprint,
    private_routing_answers,
    safe_next,
    site_root,
)

if t.TYPE_CHECKING:
    from .testing.fake import FakeWeChat

UserHandler = t.Callable[[WeChatIdentity], t.Any]

#: Where each flow's credentials, scope and authorize page are.
_FLOWS = {
    "qr": (
        "WECHAT_WEB_APPID",
        "WECHAT_WEB_SECRET",
        "WECHAT_WEB_SCOPE",
        "connect/qrconnect",
    ),
    "mp": (
        "WECHAT_WEB_MP_APPID",
        "WECHAT_WEB_MP_SECRET",
        "WECHAT_WEB_MP_SCOPE",
        "connect/oauth2/authorize",
    ),
}
_REMOTE_NAMES = {"qr": "wechat", "mp": "wechat_mp"}

logger = logging.getLogger(__name__)

#: What the built-in user's profile may take in the session (see ``_session.BUDGET``).
PROFILE_BUDGET = 600
#: The profile fields the built-in user keeps, in their stored order, and
#: their empty values (what WeChat sends for sex and region since 2021).
_PROFILE: tuple[tuple[str, t.Any], ...] = (
    ("nickname", ""),
    ("headimgurl", ""),
    ("sex", 0),
    ("province", ""),
    ("city", ""),
    ("country", ""),
    ("privilege", []),
)


def _no_session_secret(app: Flask) -> bool:
    """Whether ``app`` has Flask's cookie session and no key to sign it with."""
    return (
        not app.secret_key
        and type(app.session_interface) is SecureCookieSessionInterface
        and not app.config.get("SESSION_TYPE")  # Flask-Session, set up after us
    )


#: errcodes of ``sns/auth`` that mean "this token is not valid".
_INVALID_TOKEN_CODES = frozenset({40001, 40003, 40014, 42001})


class WeChatWeb:
    """Sign in with WeChat for one or more Flask apps.

    :param app: the app to set up now; or call :meth:`init_app` later.
    :param url_prefix: where to mount the blueprint (default:
        ``WECHAT_WEB_URL_PREFIX``).
    :param register_blueprint: ``False`` to mount ``blueprint`` yourself.
    :param storage: where tokens are kept (default: :class:`SessionStorage`).
    :param clock: the time source for state expiry, for tests.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        url_prefix: str | None = None,
        register_blueprint: bool = True,
        storage: TokenStorage | None = None,
        clock: t.Callable[[], float] | None = None,
    ) -> None:
        self.url_prefix = url_prefix
        self.register_blueprint = register_blueprint
        self.storage: TokenStorage = storage if storage is not None else SessionStorage()
        self.clock = clock or time.time
        self.blueprint = create_blueprint()
        self._user_handler: UserHandler | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Set up ``app``: config defaults and checks, the blueprint, Flask-Login.

        Reads the ``WECHAT_WEB_*`` keys (see the configuration page). A
        malformed setting, or an AppID without its AppSecret, raises
        :class:`ConfigurationError` naming the key. With neither set, the
        check waits for the first request, for app factories that set their
        config after ``init_app``.
        """
        if "wechat_web" in app.extensions:
            raise RuntimeError(
                "A WeChatWeb instance is already registered on this app. Create "
                "one WeChatWeb per app, or call init_app once."
            )
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        sandbox = None
        if app.config["WECHAT_WEB_SANDBOX"]:
            from .sandbox import install_sandbox

            sandbox = install_sandbox(app)
        state = WeChatWebState(self, app, sandbox)
        # With no credentials at all, the app factory may set them later:
        # check at the first request instead. Anything else is checked now.
        late = not (app.config.get("WECHAT_WEB_APPID") or app.config.get("WECHAT_WEB_SECRET"))
        if not late:
            state.check_config()
            if _no_session_secret(app):
                raise ConfigurationError(_session.NO_SESSION)
        app.extensions["wechat_web"] = state
        if self.register_blueprint:
            prefix = self.url_prefix or app.config["WECHAT_WEB_URL_PREFIX"]
            app.register_blueprint(self.blueprint, url_prefix=prefix)
        self._init_login_manager(app)
        app.url_build_error_handlers.append(self._unregistered_blueprint)
        app.register_error_handler(ConfigurationError, configuration_error_page)
        app.after_request(private_routing_answers)
        app.add_template_global(self.login_url, "wechat_login_url")
        app.add_template_global(self.qrcode_options, "wechat_qrcode_options")
        # The macros' own words, in the extension's catalogs (a site's ``_`` is its own).
        app.add_template_global(i18n.template_text, "wechat_gettext")
        app.cli.add_command(wechat_cli)
        install_log_scrubber()

    def _init_login_manager(self, app: Flask) -> None:
        manager: LoginManager | None = getattr(app, "login_manager", None)
        if manager is None:
            manager = LoginManager(app)
            # Flask-Login's "Please log in" would greet the user back from
            # WeChat, already logged in.
            manager.login_message = None
        if manager.login_view is None:
            manager.login_view = "wechat.login"
        if getattr(manager, "_user_callback", None) is None:
            manager.user_loader(self._load_builtin_user)

    def _unregistered_blueprint(
        self, error: Exception, endpoint: str, values: dict[str, t.Any]
    ) -> str:
        """Flask's URL build error hook: a ``wechat.*`` URL with no blueprint to build it.

        ``@login_required`` meets it first, when ``login_view`` is ``"wechat.login"``.
        """
        registered = current_app.blueprints.get("wechat") is self.blueprint
        if endpoint.startswith("wechat.") and not registered:
            raise ConfigurationError(
                f"Cannot build the URL of {endpoint!r}: the wechat blueprint is not "
                "registered on this app. With WeChatWeb(app, register_blueprint=False), "
                "register it yourself: app.register_blueprint(wechat.blueprint, "
                "url_prefix='/wechat')."
            )
        raise error

    def _load_builtin_user(self, user_id: str) -> WeChatUser | None:
        """Flask-Login's loader for the built-in user, read back from the session."""
        data = _session.data()
        account = data.account()
        if account is None:
            return None
        appid, openid, unionid, scope = account
        stored = data.get("profile")
        raw: dict[str, t.Any] = {}
        if isinstance(stored, list):
            raw = {"openid": openid}
            for index, (key, empty) in enumerate(_PROFILE):
                raw[key] = stored[index] if index < len(stored) else empty
            if unionid:
                raw["unionid"] = unionid
        user = WeChatUser(WeChatIdentity(appid, openid, unionid, scope, raw=raw))
        return user if user.get_id() == user_id else None

    def _remember_builtin_user(self, identity: WeChatIdentity) -> None:
        """Keep the built-in user in the session: its ids once, and its profile.

        The profile is a list in ``_PROFILE`` order, without the
        empty values WeChat sends at its end since 2021 (no sex, no region).
        """
        data = _session.data()
        data.set_account(
            {
                "appid": identity.appid,
                "openid": identity.openid,
                "unionid": identity.unionid,
                "scope": identity.scope,
            }
        )
        raw, profile = identity.raw, None
        if raw:  # not under snsapi_base
            profile = [raw.get(key, empty) for key, empty in _PROFILE]
            # Each field is measured only when the whole is too long: a prefix never costs more.
            for index, (key, empty) in enumerate(_PROFILE):
                if _session.cost(profile) <= PROFILE_BUDGET:
                    break
                if _session.cost(profile[: index + 1]) > PROFILE_BUDGET:
                    # Longer than WeChat ever sends: keep what fits, the nickname first.
                    logger.warning("WeChat sent a %s too long to keep in the session.", key)
                    profile[index] = empty
            while profile and profile[-1] == _PROFILE[len(profile) - 1][1]:
                profile.pop()
        data.set("profile", profile)

    def user_handler(self, fn: UserHandler) -> UserHandler:
        """Register ``fn(identity) -> user | None``, called on every login.

        Return the site's user for the :class:`WeChatIdentity` (create it if
        new), or ``None`` to refuse the login. Without a handler, a
        :class:`WeChatUser` is logged in.
        """
        self._user_handler = fn
        return fn

    def user_for(self, identity: WeChatIdentity) -> t.Any:
        """The user to log in for ``identity``, from the handler or built in.

        A site user needs a Flask-Login ``user_loader`` of the site's own:
        with only the built-in one, it is a :class:`ConfigurationError`. A
        refusal (``None``) needs none.
        """
        handler = self._user_handler
        if handler is None:
            user = WeChatUser(identity)
        else:
            guard = getattr(self.storage, "unavailable_as_error", contextlib.nullcontext)
            with guard():  # the handler's own queries: a lost database is a clean 503
                user = handler(identity)
        # A handler may return current_user itself: log in what it stands for.
        if isinstance(user, LocalProxy):
            user = user._get_current_object()
        manager = getattr(current_app, "login_manager", None)
        if user is None or getattr(manager, "_user_callback", None) != self._load_builtin_user:
            return user
        if not isinstance(user, WeChatUser):
            raise ConfigurationError(
                f"The @wechat.user_handler returned a {type(user).__name__}, but "
                "Flask-Login has no user_loader for the site's users, so the user "
                "would be logged out on the next request. Register one: "
                "@login_manager.user_loader, given user.get_id()."
            )
        self._remember_builtin_user(user.identity)
        return user

    def login_url(self, next: str | None = None) -> str:
        """The URL that starts a WeChat login and comes back to ``next``."""
        return url_for("wechat.login", next=next)

    def qrcode_options(
        self, next: str | None = None, self_redirect: bool = False
    ) -> dict[str, t.Any]:
        """The options for ``new WxLogin(...)``: an embedded QR code's login.

        Each call starts a pending login (a new state). The ``wechat/macros.html``
        macro ``wechat_qrcode`` renders the container and the script with them.
        """
        return get_state().qrcode_options(safe_next(next), self_redirect)

    @property
    def remote(self) -> WeChatRemoteApp:
        """The Authlib remote app of the website app (``"wechat"``)."""
        return get_state().remote("qr")

    @property
    def token(self) -> dict[str, t.Any] | None:
        """The current user's token dict, or ``None``.

        An access token past its ``expires_at`` is refreshed first (and the
        fresh token stored). A dead refresh token raises
        :class:`TokenExpiredError` and drops the stored token: the user must
        log in again.
        """
        token = self.storage.get()
        if token is not None and is_expired(token):
            token = get_state().refresh_stored(token)
        return token

    def fetch_identity(
        self, token: t.Mapping[str, t.Any] | None, lang: str | None = None
    ) -> WeChatIdentity:
        """The :class:`WeChatIdentity` of ``token``, with its profile from ``sns/userinfo``.

        A token WeChat rejects (expired or revoked early) is refreshed once,
        and stored if it is the current user's, as for every call made with a
        user's token. No token (``wechat.token`` of a user who has none) is a
        :class:`TokenExpiredError`.
        """
        state, token = get_state(), _given(token)
        flow = state.flow_of(token)
        userinfo = state.userinfo(flow, token, lang)
        return state.identity(flow, token, userinfo=userinfo)

    def refresh_token(self, token: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
        """A fresh token for ``token``, through ``sns/oauth2/refresh_token``."""
        state, token = get_state(), _given(token)
        return state.refresh(state.flow_of(token), token)

    def check_token(self, token: t.Mapping[str, t.Any] | None) -> bool:
        """Whether WeChat still accepts ``token``'s access token (``sns/auth``).

        A pure question: the token is never refreshed here.
        """
        state, token = get_state(), _given(token)
        remote = state.remote(state.flow_of(token))
        try:
            remote.get_json(AUTH_PATH, access_token=token["access_token"], openid=token["openid"])
        except WeChatAPIError as error:
            if error.errcode in _INVALID_TOKEN_CODES:
                return False
            raise
        return True


def _given(token: t.Mapping[str, t.Any] | None) -> t.Mapping[str, t.Any]:
    """``token``; ``None`` (``wechat.token`` of a user with none) is a clear error."""
    if token is None:
        raise TokenExpiredError(NO_TOKEN)
    return token


def get_state(app: Flask | None = None) -> WeChatWebState:
    """The per-app state of the current (or given) app."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        return t.cast(WeChatWebState, app.extensions["wechat_web"])
    except KeyError:
        raise RuntimeError(
            "Flask-WeChat-Web is not set up on this app: call "
            "WeChatWeb(app) or wechat.init_app(app) first."
        ) from None


class WeChatWebState:
    """What one app needs: its Authlib registry, its connection pool, its sandbox."""

    def __init__(self, extension: WeChatWeb, app: Flask, sandbox: FakeWeChat | None) -> None:
        self.extension = extension
        self.app = app
        self.sandbox = sandbox
        self.pool = ConnectionPool()
        if sandbox is not None:
            from .sandbox import sandbox_transport

            self.pool.mounts.update(sandbox_transport(sandbox))
        self.registry = OAuth()
        # Not registry.init_app(app): that claims
        # app.extensions["authlib.integrations.flask_client"], which the site
        # may use for its own providers.
        self.registry.app = app
        self._lock = threading.Lock()
        self._config_checked = False
        self._warned_no_unionid: set[str] = set()
        self._refresh_locks = [threading.Lock() for _ in range(32)]

    @property
    def config(self) -> t.Mapping[str, t.Any]:
        return self.app.config

    def check_config(self) -> None:
        """Raise :class:`ConfigurationError` listing every problem, once clean."""
        if self._config_checked:
            return
        found = problems(self.config, debug=self.app.debug or self.app.testing)
        if found:
            raise ConfigurationError("Flask-WeChat-Web is not configured:\n" + "\n".join(found))
        self._config_checked = True

    def has_mp(self) -> bool:
        return bool(self.config["WECHAT_WEB_MP_APPID"])

    def check_logins(self) -> None:
        """:meth:`check_config`, and refuse on a site that only relays callbacks.

        Every route but the relay, and every helper that starts a login or
        calls WeChat, goes through here: such a site has no AppID to log in with.
        """
        self.check_config()
        if relay_only(self.config):
            raise ConfigurationError(
                "WECHAT_WEB_APPID is not set: this site only relays WeChat's callbacks "
                "(WECHAT_WEB_RELAY_SITES) and cannot log anyone in itself."
            )

    def remote(self, flow: str) -> WeChatRemoteApp:
        """The Authlib remote app for ``flow``, registered on first use."""
        self.check_logins()
        name = _REMOTE_NAMES[flow]
        client = self.registry.create_client(name)
        if client is None:
            with self._lock:
                client = self.registry.create_client(name) or self._register(flow)
        return t.cast(WeChatRemoteApp, client)

    def _register(self, flow: str) -> WeChatRemoteApp:
        appid_key, secret_key, scope_key, authorize_path = _FLOWS[flow]
        config = self.config
        api = config["WECHAT_WEB_API_BASE_URL"].rstrip("/")
        timeout = config["WECHAT_WEB_TIMEOUT"]
        # Every parameter is passed, so Authlib fills none from WECHAT_* keys.
        remote = t.cast(
            WeChatRemoteApp,
            self.registry.register(
                _REMOTE_NAMES[flow],
                client_cls=WeChatRemoteApp,
                client_id=config[appid_key],
                client_secret=config[secret_key],
                authorize_url=f"{config['WECHAT_WEB_OPEN_BASE_URL'].rstrip('/')}/{authorize_path}",
                authorize_params=None,
                access_token_url=f"{api}/{TOKEN_PATH}",
                access_token_params=None,
                refresh_token_url=f"{api}/{REFRESH_PATH}",
                refresh_token_params=None,
                request_token_url=None,
                request_token_params=None,
                api_base_url=f"{api}/",
                server_metadata_url=None,
                client_kwargs={
                    "scope": config[scope_key],
                    "pool": self.pool,
                    "default_timeout": (timeout, timeout),
                },
                fetch_token=lambda: self.extension.token,
                update_token=functools.partial(self._store_refreshed, config[appid_key]),
            ),
        )
        remote.renew_token = self.refresh_stored
        return remote

    def flow_for(self, mode: str | None, user_agent: str) -> str | None:
        """Which way a login goes: ``"qr"``, ``"mp"``, ``"phone"``, or ``None``.

        WeChat's own browser (``MicroMessenger``, but not WeCom's ``wxwork``,
        where Official Account login is unsupported) takes the Official
        Account when one is configured, else the QR page. Any other phone
        gets ``"phone"``: a page that offers to open the link in WeChat, or
        the QR anyway. ``None``: ``mode=mp`` with no Official Account.
        """
        if mode == "mp":
            return "mp" if self.has_mp() else None
        if mode == "qr":
            return "qr"
        if in_wechat_browser(user_agent):
            return "mp" if self.has_mp() else "qr"
        return "phone" if on_phone(user_agent) else "qr"

    def flow_of(self, token: t.Mapping[str, t.Any]) -> str:
        """Which app issued ``token``: the Official Account if its appid says so."""
        appid = token.get("appid")
        return "mp" if appid and appid == self.config["WECHAT_WEB_MP_APPID"] else "qr"

    def callback_url(self) -> str:
        return t.cast(
            str,
            self.config["WECHAT_WEB_CALLBACK_URL"] or url_for("wechat.authorized", _external=True),
        )

    def start_login(self, flow: str, next_url: str, *, in_frame: bool = False) -> str:
        """Remember a new pending login; its state."""
        self.check_logins()
        ttl = self.config["WECHAT_WEB_STATE_TTL"]
        prefix = state_prefix()
        now = self.extension.clock()
        return pending.add(flow, next_url, now, ttl, in_frame=in_frame, prefix=prefix).state

    def qrcode_options(self, next_url: str | None, self_redirect: bool) -> dict[str, t.Any]:
        """``WxLogin`` options for an embedded QR code, with a new pending state."""
        state = self.start_login("qr", next_url or site_root(), in_frame=self_redirect)
        return {
            "appid": self.config["WECHAT_WEB_APPID"],
            "scope": self.config["WECHAT_WEB_SCOPE"],
            # wxLogin.js pastes redirect_uri into its URL as given.
            "redirect_uri": quote(self.callback_url(), safe=""),
            "state": state,
            "self_redirect": self_redirect,
        }

    def authorize_url(self, flow: str, next_url: str) -> str:
        """Start a login: a new pending state, and WeChat's authorize URL for it."""
        state = self.start_login(flow, next_url)
        remote = self.remote(flow)
        # WeChat's QR page is Chinese unless asked for English (lang=en).
        lang = "en" if flow == "qr" and i18n.current_locale() == "en" else None
        url = t.cast(
            str,
            remote.create_authorization_url(self.callback_url(), state=state, lang=lang)["url"],
        )
        # The sandbox's authorize pages live on this very site.
        return f"{request.script_root}{url}" if url.startswith("/") else url

    def exchange_code(self, flow: str, code: str) -> tuple[dict[str, t.Any], WeChatIdentity]:
        """Redeem ``code`` with ``flow``'s credentials: the token and the identity."""
        raw = self.remote(flow).fetch_access_token(code=code)
        token = compact_token({**raw, "appid": self.config[_FLOWS[flow][0]]})
        identity = self.identity(flow, token, snapshot=raw.get("is_snapshotuser"))
        if identity.unionid is None and identity.has_profile:
            self._warn_no_unionid(flow, identity.appid)
        return token, identity

    def _warn_no_unionid(self, flow: str, appid: str) -> None:
        """Say once per app why logins come without a ``unionid``, and what it costs."""
        if flow in self._warned_no_unionid:
            return
        self._warned_no_unionid.add(flow)
        which = "website app" if flow == "qr" else "Official Account"
        logger.warning(
            "WeChat logins through the %s %s come without a unionid: the app is "
            "not bound to an Open Platform account (open.weixin.qq.com > 管理中心 > "
            "公众帐号 > 绑定). Users are then known only by openid, which differs in each "
            "app, so a person who logs in both on the website and inside WeChat "
            "becomes two users. Bind both apps to one Open Platform account.",
            which,
            appid,
        )

    def identity(
        self,
        flow: str,
        token: t.Mapping[str, t.Any],
        *,
        userinfo: t.Mapping[str, t.Any] | None = None,
        snapshot: t.Any = None,
    ) -> WeChatIdentity:
        scope = scopes.normalised(token.get("scope")) or self.config[_FLOWS[flow][2]]
        unionid = token.get("unionid") or (userinfo or {}).get("unionid")
        return WeChatIdentity(
            self.config[_FLOWS[flow][0]],
            token["openid"],
            unionid,
            scope,
            is_snapshot_user=str(snapshot) == "1" or snapshot is True,
            raw=userinfo,
            load_userinfo=lambda: self.userinfo(flow, token, None),
        )

    def userinfo(
        self, flow: str, token: t.Mapping[str, t.Any], lang: str | None
    ) -> dict[str, t.Any]:
        """``sns/userinfo`` for ``token``, in ``lang`` (default ``WECHAT_WEB_LANG``)."""
        lang = lang or self.config["WECHAT_WEB_LANG"]
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}")
        resp = self.remote(flow).request("GET", USERINFO_PATH, token=token, params={"lang": lang})
        userinfo = parse_body(resp, USERINFO_PATH)
        if userinfo["openid"] != token["openid"]:
            raise MalformedAnswerError(USERINFO_PATH, "openid", "is not the token's openid")
        return userinfo

    def refresh(self, flow: str, token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """A fresh token for ``token`` (``sns/oauth2/refresh_token``), stored if it was."""
        remote = self.remote(flow)

        refresh_token = token.get("refresh_token")
        if not refresh_token:
            raise TokenExpiredError(
                "This WeChat token has no refresh token, so it cannot be "
                "refreshed: the user must log in with WeChat again."
            )

        def do_refresh() -> dict[str, t.Any]:
            with remote._get_oauth_client(**remote.server_metadata) as client:
                client.refreshing_openid = token.get("openid")
                fresh = client.refresh_token(
                    remote.server_metadata["refresh_token_url"], refresh_token=refresh_token
                )
            # The token's app is ours to say: an appid in the answer is not WeChat's.
            return compact_token({**token, **fresh, "appid": token.get("appid")})

        return call_wechat(do_refresh, remote.api_base_url)

    def _store_refreshed(self, appid: str, token: t.Mapping[str, t.Any], **_: t.Any) -> None:
        """Authlib's ``update_token`` hook: keep a refreshed token in the storage."""
        self.extension.storage.set(compact_token({**token, "appid": appid}), None)

    def refresh_stored(self, token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """Renew a user's ``token``: the one path of every call made with one.

        The fresh token is stored when ``token`` is the current user's. Requests
        of one user that find the token expired (or rejected by WeChat) queue
        on a lock; those after the first find the refreshed token in the
        storage and use it. A refresh token WeChat no longer accepts drops the
        current user's stored token (never another user's).
        """
        key = (token.get("appid"), token.get("openid"))
        with self._refresh_locks[hash(key) % len(self._refresh_locks)]:
            # Outside a request (a job) there is no current user.
            stored = self.extension.storage.get() if has_request_context() else None
            mine = stored is not None and same_account(stored, token)
            if (
                stored is not None
                and mine
                and not is_expired(stored)
                and (
                    # WeChat issues a new access token, or extends the one
                    # that had not yet expired.
                    stored.get("access_token") != token.get("access_token")
                    or stored.get("expires_at", 0) > token.get("expires_at", 0)
                )
            ):
                return stored
            try:
                return self.refresh(self.flow_of(token), token)
            except TokenExpiredError:
                if mine:
                    self.extension.storage.delete()
                raise
